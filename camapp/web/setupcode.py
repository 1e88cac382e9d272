"""The one-time setup code that /setup asks for, so that whoever reaches a new appliance first cannot claim it.

While no account exists, every start makes a new code and prints it to the log (the console, or the journal on the
image: `journalctl -u camapp | grep "setup code"`), with the addresses to open, and again every minute until the
account exists (a busy console would scroll it away). A code chosen in advance (`setup_code` in the boot partition's
camapp.conf, stored by `camapp setup-code`) is kept instead and not printed. Only a hash is stored, in the data
directory (mode 0600); the file is removed once the admin account exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from camapp.atomic import write_atomic
from camapp.errors import AuthError

log = logging.getLogger(__name__)
CODE_FILE = "setup_code"
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a screen and typed by hand
MIN_CHOSEN = 8
REMIND_S = 60.0
CONSOLE_HINT = "journalctl -u camapp | grep 'setup code'"


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


def prepare(data_dir: Path, urls: Callable[[], list[str]] = list) -> str | None:
    """At start, with no account yet: a fresh code (logged, and returned) unless the user chose one."""
    current = _load(data_dir)
    if current is not None and current.get("chosen"):
        announce(None, urls())
        return None
    code = new_code()
    store_code(data_dir, code, chosen=False)
    announce(code, urls())
    return code


def announce(code: str | None, urls: list[str]) -> None:
    """The setup code block on the console: where to go and what to type."""
    where = "\n".join(f"      {u.rstrip('/')}/setup" for u in urls) or "      the web UI"
    if code is None:
        log.warning("No admin account yet: open one of\n%s\nand enter the setup code you put in camapp.conf.", where)
        return
    bar = "=" * 64
    log.warning("\n%s\n  No admin account yet. Open one of\n%s\n  and enter this one-time setup code:\n\n"
                "      %s\n\n  (a new code is made at every start until the account exists)\n%s", bar, where, code, bar)


def console_message(urls: list[str]) -> str:
    """What /healthz says while no account exists: where to go and where the code is (never the code itself: the
    endpoint needs no login, and the code is what proves a visitor can see the appliance's console)."""
    where = f"{urls[0].rstrip('/')}/setup" if urls else "/setup"
    return (f"No admin account yet: open {where} and enter the one-time setup code printed on the console "
            f"(on the image: {CONSOLE_HINT}); it is printed again every minute until the account exists.")


class Reminder:
    """Prints the setup code again every `every` seconds until `done()` (the admin account exists) or close()."""

    def __init__(self, code: str | None, done: Callable[[], bool], urls: Callable[[], list[str]],
                 every: float = REMIND_S) -> None:
        self._code, self._done, self._urls, self._every = code, done, urls, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="camapp-setup-reminder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if self._done():
                    return
                announce(self._code, self._urls())
            except Exception:  # a reminder must never take anything down
                log.exception("setup code reminder failed")

    def close(self) -> None:
        """Stop reminding; idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def check(data_dir: Path, code: str) -> bool:
    """Constant-time comparison with the stored hash; False when there is no code."""
    current = _load(data_dir)
    return current is not None and hmac.compare_digest(str(current["sha256"]), _digest(code))


def retire(data_dir: Path) -> None:
    (Path(data_dir) / CODE_FILE).unlink(missing_ok=True)
