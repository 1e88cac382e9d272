"""Reading a YAML config file that cannot crash or hang the appliance, however hostile the file.

The file is capped in size, must be UTF-8 text, and is composed by a YAML composer that refuses anchors and
aliases (a config never needs them, and they are what "billion laughs" files and self-referencing `a: &a [*a]`
are made of), nests at most MAX_DEPTH levels, holds at most MAX_NODES values and has no key twice in one mapping.
Every refusal is a ConfigError naming the file and line; the node tree it builds also gives the line of every key,
so validation errors name their line without composing the file a second time.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml
import yaml.reader
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from camapp.errors import ConfigError

try:  # libyaml's scanner and parser are much faster; the composer below stays Python so it can refuse things
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


MAX_BYTES = 256 * 1024  # a real config is a few KB; even 64 zones of 100 points are about 100 KB
MAX_DEPTH = 16  # the deepest real config path (objects.filters.<label>.mask.<i>.<j>.<k>) is 7 levels
MAX_NODES = 30_000  # 64 zones of 100 points are ~20,000 values; composing 30,000 takes a fraction of a second
LineIndex = dict[tuple[str, ...], int]


class _Refused(Exception):
    """A limit the composer enforces, at a 1-based line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


class _SafeComposer(Composer, _Parser, SafeConstructor, Resolver):
    """PyYAML's safe loader, with a composer that enforces the limits above."""

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._nodes = 0
        self._path: list[str] = []  # keys and indexes down to the node being composed, for messages

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()
        line = event.start_mark.line + 1
        anchor = event.anchor if isinstance(event, yaml.NodeEvent) else None
        if anchor is not None:
            what = f"alias *{anchor}" if isinstance(event, yaml.AliasEvent) else f"anchor &{anchor}"
            raise _Refused(line, f"{what}: YAML anchors and aliases are not accepted in a camapp config "
                           "(a config never needs them; write the value out)")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(line, f"more than {MAX_NODES} values: this is not a camapp config")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(line, f"nested deeper than {MAX_DEPTH} levels: this is not a camapp config")
        label = index.value if isinstance(index, yaml.ScalarNode) else None if parent is None else str(index)
        if label is not None:
            self._path.append(str(label))
        try:
            node: yaml.Node | None = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if label is not None:
                self._path.pop()
        return node

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        node: yaml.MappingNode = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], int] = {}  # a dict, not a list: a 10,000-key mapping is checked in linear time
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            line = key.start_mark.line + 1
            first = seen.get((key.tag, key.value))
            if first is not None:
                under = f" in {'.'.join(self._path)}" if self._path else ""
                raise _Refused(line, f"key '{_short(key.value)}' appears twice in one mapping{under} (lines {first} "
                               f"and {line}); YAML would silently keep only the last one")
            seen[(key.tag, key.value)] = line
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as err:  # e.g. a 5,000-digit integer, a 13th month
            raise _Refused(node.start_mark.line + 1, f"cannot read this value: {_short(str(err), 120)}") from None


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _line_of_offset(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def read_text(path: Path) -> str:
    """The file's text: a regular file of at most MAX_BYTES of UTF-8 without NUL bytes, else ConfigError."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the open, /dev/zero never ends
            raise ConfigError(f"{path}: not a regular file")
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err.strerror or err}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // 1024} KiB; a camapp config is a few KB "
                          "(is this the right file?)")
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ConfigError(f"{path}:{_line_of_offset(raw, nul)}: a binary file (NUL byte at offset {nul}), "
                          "not a YAML config")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}:{_line_of_offset(raw, err.start)}: not UTF-8 text (byte 0x{raw[err.start]:02x} "
                          f"at offset {err.start}); save the config as UTF-8") from None


def _index(node: yaml.Node, path: tuple[str, ...], lines: LineIndex) -> None:
    """Record the line of every key path (iterative: the tree is already depth-limited, this is just tidy)."""
    stack = [(node, path)]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                stack.append((value, sub))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(node.value))


def parse_yaml(text: str, source: str = "config") -> tuple[Any, LineIndex]:
    """The document's data and the line of every key path; ConfigError (with `source:line`) when refused."""
    loader = _SafeComposer(text)
    try:
        node = loader.get_single_node()
        lines: LineIndex = {}
        if node is None:
            return None, lines
        _index(node, (), lines)
        return loader.construct_document(node), lines
    except _Refused as err:
        raise ConfigError(f"{source}:{err.line}: {err.message}") from None
    except yaml.reader.ReaderError as err:  # a control character; it carries an offset, not a line
        line = text.count("\n", 0, err.position) + 1
        raise ConfigError(f"{source}:{line}: not valid YAML: character #x{err.character:04x}: {err.reason}") from None
    except yaml.YAMLError as err:
        marked = err if isinstance(err, yaml.MarkedYAMLError) else None
        mark = marked.problem_mark if marked is not None else None
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = (marked.problem if marked is not None else None) or str(err)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()


def line_index(text: str) -> LineIndex:
    """Line of every key path in `text`; empty when the text is refused (messages then carry no line)."""
    try:
        return parse_yaml(text)[1]
    except ConfigError:
        return {}


def read_config_data(path: str | Path) -> tuple[dict[str, Any], LineIndex]:
    """Read a config file into a mapping (empty for an empty file) and its line index; ConfigError when refused."""
    p = Path(path)
    data, lines = parse_yaml(read_text(p), str(p))
    if data is None:
        return {}, lines
    if not isinstance(data, dict):
        raise ConfigError(f"{p}:1: the config must be a mapping of sections, got {type(data).__name__}")
    return data, lines
