"""write_atomic: all or nothing, with the right mode, and no temp file left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from camapp.atomic import write_atomic


@pytest.mark.parametrize(("data", "mode", "expected_mode"), [(b"\x00bytes", 0o600, 0o600), ("text ü", None, 0o644)])
def test_writes_new_file(tmp_path: Path, data: bytes | str, mode: int | None, expected_mode: int) -> None:
    target = tmp_path / "sub" / "file"
    write_atomic(target, data, mode)
    assert target.read_bytes() == (data.encode() if isinstance(data, str) else data)
    assert target.stat().st_mode & 0o777 == expected_mode
    assert [p.name for p in target.parent.iterdir()] == ["file"]


def test_keeps_the_old_mode_when_replacing(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "users.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["users.json"]
