"""The brief's structural rules, checked on the source: coupling and module size.

What counts as "a camapp module imported" by a module M (the brief: no camapp module imports more than 15):
- every ``import camapp.x.y`` and ``from camapp.x import y`` anywhere in M's source: module level, inside
  functions, under ``if TYPE_CHECKING:`` — a dependency is a dependency wherever the statement sits;
- ``from camapp.pkg import name`` counts ``camapp.pkg.name`` when that is a module (or package), else ``camapp.pkg``
  (a name its ``__init__`` re-exports counts as the package, however many names come from it);
- relative imports are resolved against M's package; M itself is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "camapp"
MAX_CAMAPP_IMPORTS = 15
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    base = ROOT.parent / rel
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def camapp_imports(path: Path) -> set[str]:
    """The distinct camapp modules that the module at ``path`` imports (see the module docstring)."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name == "camapp" or a.name.startswith("camapp."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != "camapp" and not base.startswith("camapp."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if alias.name != "*" and _is_module(sub) else base)
    found.discard(me)
    return found


def test_counting_rule_on_known_shapes(tmp_path: Path) -> None:
    # The rule itself, on this package's real files, so a broken counter cannot pass every module.
    app = camapp_imports(ROOT / "app.py")
    assert "camapp.config" in app  # `from camapp.config import AppConfig`: re-exported name -> the package
    assert not any(name == "camapp.app" for name in app)
    init = camapp_imports(ROOT / "store" / "__init__.py")
    assert init and all(name.startswith("camapp.") for name in init)


def test_no_module_imports_more_than_15_camapp_modules() -> None:
    counts = {name: len(camapp_imports(path)) for name, path in _modules().items()}
    over = sorted(((n, c) for n, c in counts.items() if c > MAX_CAMAPP_IMPORTS), key=lambda nc: -nc[1])
    assert not over, f"modules importing more than {MAX_CAMAPP_IMPORTS} camapp modules: " + ", ".join(
        f"{name} ({count})" for name, count in over
    )


def test_modules_stay_under_400_lines() -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _modules().items()}
    over = {n: c for n, c in lengths.items() if c > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: " + ", ".join(f"{n} ({c})" for n, c in sorted(over.items()))
