"""Server-side sessions (camapp/web/sessions.py): a stolen or replayed cookie stops working the moment the session
ends (issue 12, finding 2).
"""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

import hashlib
import sqlite3
import stat

from flask.testing import FlaskClient
from test_web_support import (  # noqa: F401 (fixtures)
    ADMIN,
    ADMIN_PW,
    VIEWER,
    VIEWER_PW,
    Appliance,
    appliance,
    login,
    with_users,
)

from camapp.web.auth import UserStore
from camapp.web.sessions import SESSIONS_DB

COOKIE = "camapp_session"


def logged_in(appl: Appliance, user: str = ADMIN, password: str = ADMIN_PW) -> tuple[FlaskClient, str]:
    client = appl.app.test_client()
    return client, login(client, user, password)


def replay(appl: Appliance, cookie: str) -> FlaskClient:
    """A fresh client that only has a copy of someone's cookie, as an attacker who captured it would."""
    thief = appl.app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief


def cookie_of(client: FlaskClient) -> str:
    got = client.get_cookie(COOKIE)
    assert got is not None
    return got.value


def works(client: FlaskClient, csrf: str) -> tuple[int, int]:
    """(status of a read, status of a state change) for this client."""
    read = client.get("/api/status").status_code
    write = client.post("/api/arm", json={"mode": "home"}, headers={"X-CSRF-Token": csrf}).status_code
    return read, write


def test_logout_ends_the_session_for_a_replayed_cookie(appliance: Appliance) -> None:
    with_users(appliance)
    client, csrf = logged_in(appliance)
    stolen = cookie_of(client)
    assert works(replay(appliance, stolen), csrf) == (200, 200)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert works(replay(appliance, stolen), csrf) == (401, 401)


def test_password_change_ends_other_sessions_and_tokens(appliance: Appliance) -> None:
    with_users(appliance)
    mine, csrf = logged_in(appliance)
    other, other_csrf = logged_in(appliance)
    token = UserStore(appliance.ctx.data_dir).create_token(ADMIN, "script")
    resp = mine.post("/api/password", json={"current": ADMIN_PW, "new": "a new password 2"},
                     headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 200 and resp.json == {"changed": True, "sessions_ended": 1, "tokens_revoked": 1}
    assert works(other, other_csrf) == (401, 401)
    assert appliance.app.test_client().get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code \
        == 401
    assert works(mine, csrf) == (200, 200)  # the browser that changed it stays logged in


def test_password_change_can_keep_tokens(appliance: Appliance) -> None:
    with_users(appliance)
    mine, csrf = logged_in(appliance)
    token = UserStore(appliance.ctx.data_dir).create_token(ADMIN, "script")
    resp = mine.post("/api/password", json={"current": ADMIN_PW, "new": "a new password 2", "keep_tokens": True},
                     headers={"X-CSRF-Token": csrf})
    assert resp.json["tokens_revoked"] == 0
    assert appliance.app.test_client().get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code \
        == 200
    bad = mine.post("/api/password", json={"current": "a new password 2", "new": "x" * 9, "keep_tokens": "yes"},
                    headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400 and "keep_tokens" in bad.json["error"]


def test_deleting_a_user_ends_their_sessions(appliance: Appliance) -> None:
    with_users(appliance)
    admin, csrf = logged_in(appliance)
    viewer, _ = logged_in(appliance, VIEWER, VIEWER_PW)
    stolen = cookie_of(viewer)
    assert viewer.get("/api/status").status_code == 200
    assert admin.delete(f"/api/users/{VIEWER}", headers={"X-CSRF-Token": csrf, "X-Camapp-Password": ADMIN_PW}) \
        .status_code == 200
    assert viewer.get("/api/status").status_code == 401
    UserStore(appliance.ctx.data_dir).set_password(VIEWER, VIEWER_PW)  # same name and password again
    assert replay(appliance, stolen).get("/api/status").status_code == 401


def test_sessions_are_listed_and_any_can_be_ended(appliance: Appliance) -> None:
    with_users(appliance)
    viewer, csrf = logged_in(appliance, VIEWER, VIEWER_PW)  # a read-only account may still end its sessions
    phone, phone_csrf = logged_in(appliance, VIEWER, VIEWER_PW)
    listed = viewer.get("/api/sessions").json["sessions"]
    assert len(listed) == 2 and [s["current"] for s in listed].count(True) == 1
    theirs = next(s["id"] for s in listed if not s["current"])
    assert viewer.delete(f"/api/sessions/{theirs}", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert works(phone, phone_csrf)[0] == 401
    assert viewer.delete(f"/api/sessions/{theirs}", headers={"X-CSRF-Token": csrf}).status_code == 404
    admin, admin_csrf = logged_in(appliance)
    mine = next(s["id"] for s in viewer.get("/api/sessions").json["sessions"])
    assert admin.delete(f"/api/sessions/{mine}", headers={"X-CSRF-Token": admin_csrf}).status_code == 404  # not his
    assert viewer.delete(f"/api/sessions/{mine}", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert viewer.get("/api/status").status_code == 401


def test_session_ids_are_stored_hashed_in_a_private_file(appliance: Appliance) -> None:
    with_users(appliance)
    client, _ = logged_in(appliance)
    serializer = appliance.app.session_interface.get_signing_serializer(appliance.app)  # type: ignore[attr-defined]
    sid = serializer.loads(cookie_of(client))["sid"]
    path = appliance.ctx.data_dir / SESSIONS_DB
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT * FROM sessions").fetchall()
    flat = repr(rows)
    assert sid not in flat and hashlib.sha256(sid.encode()).hexdigest() in flat


def test_guessing_the_current_password_is_rate_limited(appliance: Appliance) -> None:
    """A stolen session cannot brute-force /api/password to take the account over."""
    with_users(appliance)
    client, csrf = logged_in(appliance)
    limit = appliance.ctx.get_config().web.login_max_failures
    for n in range(limit):
        resp = client.post("/api/password", json={"current": f"guess {n}", "new": "taken over 1"},
                           headers={"X-CSRF-Token": csrf})
        assert resp.status_code == 403
    resp = client.post("/api/password", json={"current": ADMIN_PW, "new": "taken over 1"},
                       headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 429 and "too many" in resp.json["error"]
    assert UserStore(appliance.ctx.data_dir).authenticate(ADMIN, ADMIN_PW) is not None


def test_account_changes_share_the_password_guess_limit(appliance: Appliance) -> None:
    """Guessing the admin's password through user changes is limited like logins (429), then even the right one."""
    with_users(appliance)
    client, csrf = logged_in(appliance)
    limit = appliance.ctx.get_config().web.login_max_failures
    new = {"username": "backdoor", "password": "backdoor pass 1", "role": "admin"}
    for n in range(limit):
        resp = client.post("/api/users", json=new, headers={"X-CSRF-Token": csrf, "X-Camapp-Password": f"guess {n}"})
        assert resp.status_code == 403
    resp = client.post("/api/users", json=new, headers={"X-CSRF-Token": csrf, "X-Camapp-Password": ADMIN_PW})
    assert resp.status_code == 429
    assert UserStore(appliance.ctx.data_dir).get("backdoor") is None
