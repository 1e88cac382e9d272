"""Memory the running appliance does not need: allocator settings, and heavy modules loaded only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from camapp.allocator import tune_malloc

LOADED = "import sys; print(sorted(m for m in ('cryptography',) if m in sys.modules))"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux only")
def test_malloc_settings_apply_on_glibc() -> None:
    assert tune_malloc() is True
    assert tune_malloc() is True  # idempotent


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_the_appliance_modules_do_not_load_cryptography(tmp_path: Path) -> None:
    """cryptography (13 MB resident) only makes the HTTPS certificate, once, and checks signed models."""
    from camapp.web.tls import ensure_certificate

    ensure_certificate(tmp_path)  # as after the first start
    code = ("import camapp.app, camapp.parts, camapp.web, camapp.detect.trust as t; from pathlib import Path; "
            f"camapp.web.ssl_context(Path({str(tmp_path)!r})); t.ModelTrust().check(None, b'model'); {LOADED}")
    assert run(code) == "[]"


def test_the_first_start_still_makes_the_certificate(tmp_path: Path) -> None:
    code = f"import camapp.web; from pathlib import Path; camapp.web.ssl_context(Path({str(tmp_path)!r})); {LOADED}"
    assert run(code) == "['cryptography']"
    assert (tmp_path / "tls" / "cert.pem").is_file()
