"""Optional two-factor sign-in (TOTP) through the real server, with real codes from the user's secret (issue 25)."""

from __future__ import annotations

import logging
import time

import pyotp
import pytest
from test_web_credentials import Browser, server  # noqa: F401 (fixture)
from test_web_support import ADMIN, ADMIN_PW

from camapp.web.totp import STEP_S, matching_step

TOTP_HEADER = {"X-Camapp-Password": ADMIN_PW}


def fresh_step() -> float:
    """A time early in a TOTP step, waiting (at most 8 s) for the next step if this one is nearly over: the test
    then uses the codes of the steps before, at and after it, all within the one-step window either side."""
    left = STEP_S - time.time() % STEP_S
    if left < 8:
        time.sleep(left + 0.1)  # the step boundary is the condition waited for; it comes on the clock alone
    return time.time()


def login_with_code(port: int, source: str, code: str) -> tuple[int, str]:
    b = Browser(port, source)
    b.page("/login")
    status, _, html = b.request("POST", "/login", {"username": ADMIN, "password": ADMIN_PW, "code": code,
                                                   "csrf_token": b.csrf}, form=True)
    return status, html


def test_two_factor_setup_login_replay_and_turning_off(server: int,  # noqa: F811
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    admin = Browser(server, "127.0.0.3")
    assert admin.login(ADMIN, ADMIN_PW)[0] == 302
    assert admin.api("GET", "/api/totp")[1] == {"enabled": False, "pending": False}
    assert admin.api("POST", "/api/totp/setup", {})[0] == 403  # a session alone cannot add a factor
    status, made = admin.api("POST", "/api/totp/setup", {}, **TOTP_HEADER)
    assert status == 200 and made["uri"].startswith("otpauth://totp/") and "secret=" + made["secret"] in made["uri"]
    app = pyotp.TOTP(made["secret"], interval=STEP_S)  # the user's authenticator app
    assert admin.api("POST", "/api/totp/enable", {"code": "000000" if app.now() != "000000" else "111111"})[0] == 403
    assert Browser(server, "127.0.0.4").login(ADMIN, ADMIN_PW)[0] == 302  # still off until a right code
    now = fresh_step()
    assert admin.api("POST", "/api/totp/enable", {"code": app.at(now - STEP_S)})[1] == {"enabled": True}
    assert any("two-factor sign-in turned on for admin" in n["message"]
               for n in admin.api("GET", "/api/security")[1]["notices"])

    status, html = login_with_code(server, "127.0.0.5", "")
    assert status == 401 and "6-digit code" in html
    # the code that turned it on is used up (one step late is accepted, for a phone's clock)
    assert login_with_code(server, "127.0.0.5", app.at(now - STEP_S))[0] == 401
    assert login_with_code(server, "127.0.0.5", app.at(now))[0] == 302
    assert login_with_code(server, "127.0.1.5", app.at(now))[0] == 401  # a code works once: no replay

    status, resp = admin.api("POST", "/api/totp/disable", {"code": "123"}, **TOTP_HEADER)
    assert status == 403 and "needs a current code" in resp["error"]
    assert admin.api("GET", "/api/totp")[1]["enabled"] is True
    assert admin.api("POST", "/api/totp/disable", {"code": app.at(now + STEP_S)}, **TOTP_HEADER)[0] == 200
    assert Browser(server, "127.0.2.5").login(ADMIN, ADMIN_PW)[0] == 302  # the password alone again
    assert any("turned OFF for admin" in r.getMessage() for r in caplog.records)


def test_wrong_codes_are_throttled_like_passwords(server: int) -> None:  # noqa: F811
    admin = Browser(server, "127.0.0.3")
    assert admin.login(ADMIN, ADMIN_PW)[0] == 302
    secret = admin.api("POST", "/api/totp/setup", {}, **TOTP_HEADER)[1]["secret"]
    app = pyotp.TOTP(secret, interval=STEP_S)
    assert admin.api("POST", "/api/totp/enable", {"code": app.now()})[0] == 200
    wrong = [c for c in (f"{n:06d}" for n in range(20)) if matching_step(secret, c) is None][:6]
    codes = [login_with_code(server, f"127.0.{10 + n}.2", c)[0] for n, c in enumerate(wrong)]
    assert codes[:5] == [401] * 5 and codes[5] == 429  # the account locks, as for wrong passwords


@pytest.mark.parametrize(("offset", "ok"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_codes_are_accepted_one_step_either_side(offset: int, ok: bool) -> None:
    secret = pyotp.random_base32()
    now = 1_800_000_000.0
    code = pyotp.TOTP(secret, interval=STEP_S).at(now + offset * STEP_S)
    assert (matching_step(secret, code, now) is not None) is ok
    assert matching_step(secret, "12345", now) is None and matching_step(secret, "abcdef", now) is None
