"""The one-time setup code that /setup asks for, so that whoever reaches a new appliance first cannot claim it.

While no account exists, every start makes a new code and prints it to the log (the console, or the journal on the
image: `journalctl -u camapp | grep "setup code"`). A code chosen in advance (`setup_code` in the boot partition's
camapp.conf, stored by `camapp setup-code`) is kept instead and not printed. Only a hash is stored, in the data
directory (mode 0600); the file is removed once the admin account exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from pathlib import Path

from camapp.atomic import write_atomic
from camapp.errors import AuthError

log = logging.getLogger(__name__)
CODE_FILE = "setup_code"
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a screen and typed by hand
MIN_CHOSEN = 8


def _digest(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


def normalize(code: str) -> str:
    """Case, spaces and dashes do not matter when typing a code."""
    return "".join(code.split()).replace("-", "").upper()


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))  # 60 bits
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def store_code(data_dir: Path, code: str, chosen: bool) -> None:
    """Keep the hash of `code`; `chosen` marks a code the user picked (camapp.conf), which restarts keep."""
    if chosen and len(normalize(code)) < MIN_CHOSEN:
        raise AuthError(f"setup_code: use at least {MIN_CHOSEN} letters or digits")
    write_atomic(Path(data_dir) / CODE_FILE, json.dumps({"sha256": _digest(code), "chosen": chosen}), 0o600)


def _load(data_dir: Path) -> dict[str, object] | None:
    try:
        data = json.loads((Path(data_dir) / CODE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("sha256"), str) else None


def prepare(data_dir: Path) -> str | None:
    """At start, with no account yet: a fresh code (logged, and returned) unless the user chose one."""
    current = _load(data_dir)
    if current is not None and current.get("chosen"):
        log.warning("No admin account yet: open the web UI and enter the setup code you put in camapp.conf.")
        return None
    code = new_code()
    store_code(data_dir, code, chosen=False)
    bar = "=" * 64
    log.warning("\n%s\n  No admin account yet. Open the web UI and enter this one-time setup code:\n\n"
                "      %s\n\n  (a new code is made at every start until the account exists)\n%s", bar, code, bar)
    return code


def check(data_dir: Path, code: str) -> bool:
    """Constant-time comparison with the stored hash; False when there is no code."""
    current = _load(data_dir)
    return current is not None and hmac.compare_digest(str(current["sha256"]), _digest(code))


def retire(data_dir: Path) -> None:
    (Path(data_dir) / CODE_FILE).unlink(missing_ok=True)
