"""Authentication, authorisation, CSRF, rate limiting and the users file."""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

import io
import json
import re
import stat
from pathlib import Path

import pytest
from test_web_support import (  # noqa: F401 (fixtures)
    ADMIN,
    ADMIN_PW,
    VIEWER,
    VIEWER_PW,
    Appliance,
    admin,
    appliance,
    csrf_of,
    known_setup_code,
    login,
    with_users,
)

from camapp.errors import AuthError, StorageError
from camapp.web import auth
from camapp.web.auth import UserStore, check_password, hash_password, set_admin_password
from camapp.web.guard import PUBLIC_ENDPOINTS

SAMPLE_ARGS = {"event_id": "ev0", "kind": "snapshot", "snap_id": "x1", "username": "nobody", "token_id": "abcd",
               "ref": "0a1b", "seg_id": "2026-01-01_000000-000", "name": "camera",
               "filename": "app.css"}


def all_routes(app):  # type: ignore[no-untyped-def]
    """(endpoint, method, url) for every rule and method of the app."""
    out = []
    for rule in app.url_map.iter_rules():
        url = rule.build({a: SAMPLE_ARGS[a] for a in rule.arguments}, append_unknown=False)[1]
        out += [(rule.endpoint, m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def test_route_table_is_large_enough_to_mean_something(appliance: Appliance) -> None:
    endpoints = {e for e, _, _ in all_routes(appliance.app)}
    assert len(endpoints) > 35 and "api.stream" in endpoints and "pages.settings" in endpoints


def test_every_route_rejects_anonymous(appliance: Appliance) -> None:
    with_users(appliance)
    client = appliance.app.test_client()
    checked = 0
    for endpoint, method, url in all_routes(appliance.app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        resp = client.open(url, method=method, json={} if method != "GET" else None)
        if url.startswith("/api/") or url == "/metrics":
            assert resp.status_code == 401, (method, url, resp.status_code)
            assert resp.is_json and "login required" in resp.json["error"]
        else:
            assert resp.status_code == 302 and "/login" in resp.headers["Location"], (method, url)
        checked += 1
    assert checked > 35


def test_only_the_minimal_set_is_public(appliance: Appliance) -> None:
    with_users(appliance)
    client = appliance.app.test_client()
    assert client.get("/healthz").json == {"ok": True}
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/setup").status_code == 302  # users exist: setup is gone


def test_first_start_redirects_everything_to_setup_and_creates_admin(appliance: Appliance) -> None:
    client = appliance.app.test_client()
    for url in ("/", "/events", "/settings", "/login"):
        resp = client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/setup"), url
    assert client.get("/api/status").status_code == 401
    token, code = csrf_of(client, "/setup"), known_setup_code(appliance)
    bad = client.post("/setup", data={"username": "boss", "password": "short", "password2": "short",
                                      "csrf_token": token, "setup_code": code})
    assert bad.status_code == 400 and "at least 8" in bad.get_data(as_text=True)
    ok = client.post("/setup", data={"username": "boss", "password": "long enough pw", "password2": "long enough pw",
                                     "csrf_token": token, "setup_code": code})
    assert ok.status_code == 302
    assert client.get("/api/status").status_code == 200  # logged in straight away
    assert UserStore(appliance.ctx.data_dir).get("boss")["role"] == "admin"  # type: ignore[index]
    assert client.get("/setup").status_code == 302


def test_login_form_needs_csrf(appliance: Appliance) -> None:
    with_users(appliance)
    client = appliance.app.test_client()
    resp = client.post("/login", data={"username": ADMIN, "password": ADMIN_PW})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)


def test_session_cookie_flags(appliance: Appliance) -> None:
    with_users(appliance)
    client = appliance.app.test_client()
    token = csrf_of(client)
    resp = client.post("/login", data={"username": ADMIN, "password": ADMIN_PW, "csrf_token": token})
    cookies = {c.split("=", 1)[0]: c for c in resp.headers.getlist("Set-Cookie")}
    assert "HttpOnly" in cookies["camapp_session"] and "SameSite=Lax" in cookies["camapp_session"]
    assert "HttpOnly" in cookies["camapp_browser"] and "SameSite=Strict" in cookies["camapp_browser"]


def test_wrong_password_then_rate_limit(appliance: Appliance) -> None:
    with_users(appliance)
    client = appliance.app.test_client()
    token = csrf_of(client)
    limit = appliance.ctx.get_config().web.login_max_failures
    codes = [client.post("/login", data={"username": ADMIN, "password": "nope", "csrf_token": token}).status_code
             for _ in range(limit + 1)]
    assert codes == [401] * limit + [429]
    # even the right password is refused while blocked
    resp = client.post("/login", data={"username": ADMIN, "password": ADMIN_PW, "csrf_token": token})
    assert resp.status_code == 429 and "Too many" in resp.get_data(as_text=True)


def test_state_change_without_csrf_is_refused(admin) -> None:  # type: ignore[no-untyped-def]
    client, token = admin
    assert client.post("/api/arm", json={"mode": "away"}).status_code == 403
    assert client.post("/api/arm", json={"mode": "away"}, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    ok = client.post("/api/arm", json={"mode": "away"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json["mode"] == "away"


@pytest.mark.parametrize(("method", "url", "body"), [
    ("POST", "/api/arm", {"mode": "away"}), ("POST", "/api/silence", {}), ("PUT", "/api/zones", {"zones": []}),
    ("DELETE", "/api/events/ev0", None), ("POST", "/api/users", {"username": "x", "password": "12345678"}),
])
def test_viewer_is_read_only(appliance: Appliance, method: str, url: str, body: object) -> None:
    with_users(appliance)
    client = appliance.app.test_client()
    token = login(client, VIEWER, VIEWER_PW)
    assert client.get("/api/status").status_code == 200
    assert client.get("/events").status_code == 200
    resp = client.open(url, method=method, json=body, headers={"X-CSRF-Token": token})
    assert resp.status_code == 403 and "read-only" in resp.json["error"]
    assert appliance.ctx.state.mode == "disarmed"


@pytest.mark.parametrize(("who", "password", "logs_status", "panel"), [
    (ADMIN, ADMIN_PW, 200, True), (VIEWER, VIEWER_PW, 403, False),
])
def test_only_admins_read_the_log(appliance: Appliance, who: str, password: str, logs_status: int,
                                  panel: bool) -> None:
    """Issue 25 #4: the log names hosts, users, paths and addresses like the config does, so viewers get neither,
    and their System page has no log panel that would only ever fail to load."""
    with_users(appliance)
    client = appliance.app.test_client()
    login(client, who, password)
    resp = client.get("/api/logs?lines=3")
    assert resp.status_code == logs_status
    if not panel:
        assert "only an admin" in resp.json["error"] and "lines" not in resp.json
    html = client.get("/system").get_data(as_text=True)
    assert ('id="log"' in html) is panel and ("<h2>Log" in html) is panel


def test_viewer_can_change_own_password_and_other_sessions_end(appliance: Appliance) -> None:
    with_users(appliance)
    first, second = appliance.app.test_client(), appliance.app.test_client()
    token = login(first, VIEWER, VIEWER_PW)
    login(second, VIEWER, VIEWER_PW)
    wrong = first.post("/api/password", json={"current": "bad", "new": "another pw 2"}, headers={"X-CSRF-Token": token})
    assert wrong.status_code == 403
    ok = first.post("/api/password", json={"current": VIEWER_PW, "new": "another pw 2"},
                    headers={"X-CSRF-Token": token})
    assert ok.status_code == 200
    assert first.get("/api/status").status_code == 200  # this session stays
    assert second.get("/api/status").status_code == 401  # the other one ended


def test_api_token_lifecycle(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    made = client.post("/api/tokens", json={"name": "backup script"},
                       headers={"X-CSRF-Token": csrf, "X-Camapp-Password": ADMIN_PW})
    assert made.status_code == 201
    token = made.json["token"]
    anon = appliance.app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert anon.get("/api/status", headers=bearer).status_code == 200
    # tokens carry no ambient browser authority, so they need no CSRF header
    assert anon.post("/api/arm", json={"mode": "home"}, headers=bearer).json["mode"] == "home"
    assert "Set-Cookie" not in anon.get("/api/state", headers=bearer).headers
    raw = (appliance.ctx.data_dir / "users.json").read_text()
    assert token.split("_", 2)[2] not in raw  # only the hash is stored
    token_id = client.get("/api/tokens").json["tokens"][0]["id"]
    assert client.delete(f"/api/tokens/{token_id}", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert anon.get("/api/status", headers=bearer).status_code == 401
    assert anon.get("/api/status", headers={"Authorization": "Bearer cam_zz_nope"}).status_code == 401


def test_login_next_is_same_site_only(appliance: Appliance) -> None:
    with_users(appliance)
    attacks = ["//evil.example/x", "https://evil.example/", "/%09/evil.example/", "/%0A/x", "/%0D%0ASet-Cookie:x=1",
               "/%5C/evil.example/", "%2F%2Fevil.example", "/%2F/evil.example", "javascript:alert(1)",
               "https:evil.example", "/%20/evil.example", "evil.example", "/%7F/x", "///evil.example"]
    cases = [("/events?label=person", "/events?label=person"), ("/events/ev0", "/events/ev0")]
    for target, expect in cases + [(a, "/") for a in attacks]:
        client = appliance.app.test_client()
        token = csrf_of(client)
        resp = client.post(f"/login?next={target}", data={"username": ADMIN, "password": ADMIN_PW,
                                                          "csrf_token": token})
        assert resp.status_code == 302 and resp.headers["Location"] == expect, (target, resp.status_code)


def test_user_management(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    h = {"X-CSRF-Token": csrf, "X-Camapp-Password": ADMIN_PW}
    guest = {"username": "guest", "password": "guest pass 1"}
    for reauth in ({}, {"X-Camapp-Password": "not my password"}):  # a stolen session cannot add itself an account
        resp = client.post("/api/users", json=guest, headers={"X-CSRF-Token": csrf, **reauth})
        assert resp.status_code == 403 and "needs your password" in resp.json["error"]
        resp = client.delete(f"/api/users/{VIEWER}", headers={"X-CSRF-Token": csrf, **reauth})
        assert resp.status_code == 403
    assert UserStore(appliance.ctx.data_dir).get("guest") is None
    assert client.post("/api/users", json=guest, headers=h).status_code == 201
    assert client.post("/api/users", json=guest, headers=h).status_code == 409
    assert client.post("/api/users", json={"username": "bad name!", "password": "guest pass 1"},
                       headers=h).status_code == 403
    names = {u["username"]: u["role"] for u in client.get("/api/users").json["users"]}
    assert names["guest"] == "viewer"
    assert client.delete(f"/api/users/{ADMIN}", headers=h).status_code == 400  # not yourself
    assert client.delete("/api/users/guest", headers=h).status_code == 200
    assert client.delete("/api/users/guest", headers=h).status_code == 404


def test_hashes_are_scrypt_and_salted() -> None:
    a, b = hash_password("same password"), hash_password("same password")
    assert a.startswith("scrypt$") and a != b
    assert check_password("same password", a) and not check_password("other", a)
    assert not check_password("x", "garbage")


def test_users_file_is_private_and_last_admin_stays(tmp_path: Path) -> None:
    store = UserStore(tmp_path)
    set_admin_password(tmp_path, "root", "root password")
    mode = stat.S_IMODE((tmp_path / "users.json").stat().st_mode)
    assert mode == 0o600
    assert "root password" not in (tmp_path / "users.json").read_text()
    with pytest.raises(AuthError, match="last admin"):
        store.delete("root")
    with pytest.raises(AuthError, match="username"):
        store.set_password("no spaces", "long enough")


@pytest.mark.parametrize("text", ["[]", '"users"', "{not json"])
def test_an_unreadable_users_file_is_a_storage_error_naming_it(tmp_path: Path, text: str) -> None:
    (tmp_path / "users.json").write_text(text)
    with pytest.raises(StorageError, match=r"users\.json: cannot read users file"):
        UserStore(tmp_path).has_users()


def test_cli_sets_password_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret password\n"))
    assert auth.main(["set-password", "pi", "--data-dir", str(tmp_path)]) == 0
    assert UserStore(tmp_path).authenticate("pi", "s3cret password") is not None
    data = json.loads((tmp_path / "users.json").read_text())
    assert data["users"]["pi"]["role"] == "admin"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert auth.main(["set-password", "pi", "--data-dir", str(tmp_path)]) == 2
    assert re.search("at least 8", capsys.readouterr().err)
