"""TOTP codes (RFC 6238, pyotp) as a second factor: which time step a code is, and using it up once."""

from __future__ import annotations

import hmac
import time
from typing import Any

import pyotp

from camapp.web.auth import UserStore

STEP_S = 30
WINDOW = 1  # steps either side accepted, for a phone's clock a little off


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is, within WINDOW of now; None when it matches none."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp, step = pyotp.TOTP(secret, interval=STEP_S), int((time.time() if now is None else now) // STEP_S)
    for candidate in range(step - WINDOW, step + WINDOW + 1):
        if hmac.compare_digest(totp.at(candidate * STEP_S), code):
            return candidate
    return None


def code_ok(store: UserStore, user: dict[str, Any], code: str) -> bool:
    """True when `code` is the user's current code and has not been used before (it is used up now)."""
    step = matching_step(str(user["totp"]), code)
    return step is not None and store.use_totp_step(str(user["username"]), step)
