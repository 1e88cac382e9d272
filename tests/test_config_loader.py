"""The hardened config reader: hostile files (drill 4 of issue 13) are refused fast, in little memory, with the
file, line and field named and exit code 2 from the real `camapp check-config`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from measured import run_camapp

from camapp.config import load_config
from camapp.config.loader import MAX_BYTES, parse_yaml
from camapp.errors import ConfigError

LINE = r"\.yaml:\d+: "  # `file.yaml:LINE: ` in front of a message


def _text(text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / "c.yaml"
        p.write_text(text, encoding="utf-8")
        return p

    return make


def _bytes(data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / "c.yaml"
        p.write_bytes(data)
        return p

    return make


def _fifo(tmp: Path) -> Path:
    p = tmp / "c.yaml"
    os.mkfifo(p)  # opening it for reading would block until a writer comes: the reader must not open it
    return p


def _directory(tmp: Path) -> Path:
    (tmp / "c.yaml").mkdir()
    return tmp / "c.yaml"


def _laughs() -> str:
    """The classic 'billion laughs', ~1.4 KB: nine levels of ten references each, 10^9 'lol's when expanded."""
    lines = ['lol0: &lol0 ["' + "lol" * 212 + '"]']
    for i in range(1, 10):
        refs = ", ".join([f"*lol{i - 1}"] * 10)
        lines.append(f"lol{i}: &lol{i} [{refs}]")
    return "\n".join(lines) + "\n"


ZONE = "{name: z%d, polygon: [[0, 0], [100, 0], [100, 100]]}"
POLY = "[" + ", ".join(f"[{x}, {y}]" for x, y in [(0, 0), (100, 0), (100, 100), (0, 100)]) + "]"


def _zones(n: int) -> str:
    return "zones:\n" + "".join(f"  - {ZONE % i}\n" for i in range(n))


def _polygon(points: int) -> str:
    pts = ", ".join(f"[{i}, {(i * 7) % 13}]" for i in range(points))
    return f"zones:\n  - name: big\n    polygon: [{pts}]\n"


def _rules(n: int) -> str:
    return "rules:\n  rules:\n" + "".join(f"    - {{name: r{i}, labels: [person]}}\n" for i in range(n))


def _nested_block(depth: int) -> str:
    return "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "v\n"


# (id, make file, pattern the stderr must match). Patterns name the line (`c.yaml:N:`) and, for a field problem,
# the field; the few problems about the whole file (size, kind) name the file.
CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("binary", _bytes(os.urandom(4096) + b"\0"), r"c\.yaml:\d+: a binary file"),
    ("nul-in-text", _bytes(b"camera:\n  id: a\0b\n"), r"c\.yaml:2: a binary file"),
    ("latin-1", _bytes("device_id: caf\xe9\n".encode("latin-1")), r"c\.yaml:1: not UTF-8"),
    ("utf-16", _bytes("device_id: x\n".encode("utf-16")), r"c\.yaml:1: a binary file"),
    ("self-alias", _text("a: &a [*a]\n"), LINE + "anchor &a: YAML anchors and aliases are not accepted"),
    ("billion-laughs", _text(_laughs()), LINE + "anchor &lol0"),
    ("anchor-only", _text("camera: &cam {source: v4l2}\n"), r"c\.yaml:1: anchor &cam"),
    ("alias-unknown", _text("camera: *nothing\n"), r"c\.yaml:1: alias \*nothing"),
    ("merge-key", _text("base: &b {fps: 5}\ncamera:\n  <<: *b\n"), r"c\.yaml:1: anchor &b"),
    ("100k-flow-seq", _text("zones: " + "[" * 100_000 + "\n"), LINE + "(nested deeper|not valid YAML)"),
    ("50k-flow-map", _text("zones: " + "{a: " * 50_000 + "\n"), LINE + "(nested deeper|not valid YAML)"),
    ("deep-block-seq", _text("- " * 50_000 + "x\n"), LINE + "(nested deeper|not valid YAML)"),
    ("deep-block-map", _text(_nested_block(300)), LINE + "nested deeper"),
    ("40k-zones", _text(_zones(40_000)), r"c\.yaml: larger than 256 KiB"),
    ("21MB", _text("# padding\n" * 2_200_000), r"c\.yaml: larger than 256 KiB"),
    ("many-values", _text("motion:\n  mask:\n" + f"    - {POLY}\n" * 4000), LINE + "more than 30000 values"),
    ("fifo", _fifo, r"c\.yaml: not a regular file"),
    ("directory", _directory, r"c\.yaml: not a regular file"),
    ("missing", lambda tmp: tmp / "nope.yaml", r"nope\.yaml: cannot read config"),
    ("coord-1e308", _text("zones:\n  - name: a\n    polygon: [[0, 0], [1e308, 0], [0, 1e308]]\n"),
     LINE + r"zones\.0\.polygon\.1\.0: Input should be less than or equal to 20000"),
    ("coord-inf", _text("zones:\n  - name: a\n    polygon: [[0, 0], [.inf, 0], [0, 5]]\n"),
     LINE + r"zones\.0\.polygon\.1\.0: Input should be a finite number"),
    ("coord-nan", _text("motion:\n  mask: [[[0, 0], [.nan, 0], [0, 5]]]\n"),
     LINE + r"motion\.mask\.0\.1\.0: Input should be a finite number"),
    ("coord-negative", _text("zones:\n  - name: a\n    polygon: [[0, 0], [-1e9, 0], [0, 5]]\n"),
     LINE + r"zones\.0\.polygon\.1\.0"),
    ("dup-top-key", _text("motion:\n  threshold: 10\nweb:\n  port: 80\nmotion:\n  threshold: 20\n"),
     r"c\.yaml:5: key 'motion' appears twice in one mapping \(lines 1 and 5\)"),
    ("dup-nested-key", _text("web:\n  port: 80\n  host: x\n  port: 81\n"), r"c\.yaml:4: key 'port'.*lines 2 and 4"),
    ("dup-flow-key", _text("camera: {fps: 5, fps: 6}\n"), r"c\.yaml:1: key 'fps' appears twice"),
    ("dup-zone-names", _text("zones:\n" + "".join(f"  - {ZONE % 1}\n" for _ in range(3))),
     r"c\.yaml:1: zones: Value error, zone names must be unique; repeated: .z1. \(zones 0, 1, 2\)"),
    ("huge-int", _text("motion:\n  threshold: " + "9" * 6000 + "\n"), r"c\.yaml:2: cannot read this value"),
    ("bad-date", _text("storage:\n  retain_days: 2024-13-45\n"), r"c\.yaml:2: cannot read this value"),
    ("python-tag", _text("camera: !!python/object/apply:os.system ['true']\n"), r"c\.yaml:1: not valid YAML"),
    ("unhashable-key", _text("? [a, b]\n: 1\n"), r"c\.yaml:1: not valid YAML"),
    ("top-list", _text("- a\n- b\n"), r"c\.yaml:1: the config must be a mapping"),
    ("top-scalar", _text("just words\n"), r"c\.yaml:1: the config must be a mapping"),
    ("two-documents", _text("a: 1\n---\nb: 2\n"), r"c\.yaml:2: not valid YAML"),
    ("tab-indent", _text("camera:\n\tsource: v4l2\n"), r"c\.yaml:2: not valid YAML"),
    ("unterminated-quote", _text('device_id: "abc\n'), LINE + "not valid YAML"),
    ("control-char", _text("device_id: a\x07b\n"), r"c\.yaml:1: not valid YAML"),
    ("1000-zones", _text(_zones(1000)), LINE + "zones: Value error, at most 64 entries, got 1000"),
    ("500-point-polygon", _text(_polygon(500)), LINE + r"zones\.0\.polygon: List should have at most 100 items"),
    ("300-rules", _text(_rules(300)), LINE + r"rules\.rules: Value error, at most 256 entries, got 300"),
    ("100-masks", _text("motion:\n  mask:\n" + f"    - {POLY}\n" * 100),
     LINE + r"motion\.mask: Value error, at most 32"),
    ("crossing-polygon", _text("zones:\n  - name: bow\n    polygon: [[0, 0], [10, 10], [10, 0], [0, 10]]\n"),
     r"c\.yaml:3: zones\.0\.polygon: Value error, zone 'bow': polygon edges 0-1 and 2-3 cross"),
    ("10k-unknown-keys", _text("".join(f"k{i}: 1\n" for i in range(10_000))),
     r"(?s)c\.yaml:1: k0: Extra inputs.*and 9980 more problem"),
    ("200k-string", _text("device_id: " + "x" * 200_000 + "\n"), r"c\.yaml:1: device_id: String should match"),
    ("section-not-mapping", _text("motion: 5\n"), r"c\.yaml:1: motion: Input should be"),
    ("port-out-of-range", _text("web:\n  port: 70000\n"), r"c\.yaml:2: web\.port"),
    ("file-without-path", _text("camera: {source: file}\n"), r"c\.yaml:1: camera\.path: required by source 'file'"),
]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.fault
@pytest.mark.parametrize(("make", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_config_exits_2_fast_and_small(tmp_path: Path, make: Callable[[Path], Path], pattern: str) -> None:
    path = make(tmp_path)
    got = run_camapp("check-config", str(path), deadline_s=20.0)
    assert not got.killed, f"still running after 20 s: {got.stderr[-500:]}"
    assert got.returncode == 2, got.stderr[-2000:]
    assert "Traceback" not in got.stderr
    assert re.search(pattern, got.stderr), got.stderr[-2000:]
    # CPU time, not wall time: on a busy 2-core test machine wall time measures the neighbours, not the parser.
    assert got.cpu_s < 2.0, f"{got.cpu_s:.2f} s of CPU"
    assert got.peak_rss_mb < 200, f"peak RSS {got.peak_rss_mb:.0f} MB"
    assert len(got.stderr) < 10_000  # a summary, not one line per bad key of a 10,000-key file


def test_a_good_config_still_loads(tmp_path: Path) -> None:
    text = ("camera: {source: file, path: a.avi}\nzones:\n" + "".join(f"  - {ZONE % i}\n" for i in range(64))
            + "motion:\n  mask:\n" + f"    - {POLY}\n" * 32)
    p = tmp_path / "c.yaml"
    p.write_text(text)
    cfg = load_config(p)
    assert len(cfg.zones) == 64 and len(cfg.motion.mask) == 32


def test_size_cap_is_exact(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("#" * (MAX_BYTES - 1) + "\n")
    assert load_config(p).device_id == "camapp"
    p.write_text("#" * MAX_BYTES + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(p)


def test_lines_come_from_the_one_parse() -> None:
    data, lines = parse_yaml("camera:\n  fps: 5\nzones:\n  - name: a\n")
    assert data == {"camera": {"fps": 5}, "zones": [{"name": "a"}]}
    assert lines[("camera", "fps")] == 2 and lines[("zones", "0", "name")] == 4


def test_same_key_text_with_different_tags_is_not_a_duplicate() -> None:
    data, _ = parse_yaml("'1': a\n1: b\n")
    assert data == {"1": "a", 1: "b"}
