"""First start and transport: the one-time setup code, the Host allow-list, HTTPS by default with HTTP redirected,
and the Content-Security-Policy (issue 12, findings 7 and 9).
"""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

import logging
import re
import socket
import ssl
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from test_web_support import (  # noqa: F401 (fixtures)
    ADMIN,
    ADMIN_PW,
    Appliance,
    admin,
    appliance,
    csrf_of,
    make_appliance,
    seeded_store,
    with_users,
)

from camapp.commands import ApplyConfig
from camapp.web import close_app, setupcode
from camapp.web.auth import UserStore
from camapp.web.tls import ssl_context
from camapp.webserver import WebServer

FORM = {"username": "boss", "password": "long enough pw", "password2": "long enough pw"}


def printed_code(caplog: pytest.LogCaptureFixture) -> str:
    """The setup code as a user would read it off the console (printed when the app was made)."""
    records = caplog.get_records("setup") + caplog.records
    text = "\n".join(r.getMessage() for r in records if r.name == "camapp.web.setupcode")
    found = re.findall(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b", text)
    assert found, f"no setup code in the log: {text!r}"
    return found[-1]


def post_setup(client: FlaskClient, **fields: str) -> tuple[int, str]:
    resp = client.post("/setup", data={**FORM, "csrf_token": csrf_of(client, "/setup"), **fields})
    return resp.status_code, resp.get_data(as_text=True)


@pytest.fixture
def fresh(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, demo_video: Path,
          caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """A first start whose log this test can read (the setup code is printed when the app is made)."""
    caplog.set_level(logging.INFO)
    appl, feeder = make_appliance(tmp_path, demo_video, seeded_store(tmp_path_factory, demo_video))
    yield appl
    feeder.close()
    appl.close()


def test_setup_without_the_code_is_refused(fresh: Appliance) -> None:
    """The takeover: the first visitor on the LAN tries to create the admin account."""
    client = fresh.app.test_client()
    for fields in ({}, {"setup_code": ""}, {"setup_code": "AAAA-BBBB-CCCC"}):
        status, page = post_setup(client, **fields)
        assert status == 403 and "Wrong setup code" in page
    assert not UserStore(fresh.ctx.data_dir).has_users()


def test_the_printed_code_creates_the_admin_once(fresh: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    code = printed_code(caplog)
    client = fresh.app.test_client()
    assert post_setup(client, setup_code=code.lower().replace("-", " "))[0] == 302  # typed loosely, still fine
    assert UserStore(fresh.ctx.data_dir).get("boss")["role"] == "admin"  # type: ignore[index]
    assert not (fresh.ctx.data_dir / setupcode.CODE_FILE).exists()  # used up
    assert fresh.app.test_client().get("/setup").status_code == 302  # gone for everyone


def test_each_start_prints_a_new_code(fresh: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    first = printed_code(caplog)
    close_app(fresh.app)
    caplog.clear()
    caplog.get_records("setup").clear()
    from camapp.web import create_app

    again = create_app(fresh.ctx)
    try:
        second = printed_code(caplog)
        assert second != first
        assert post_setup(again.test_client(), setup_code=first)[0] == 403
        assert post_setup(again.test_client(), setup_code=second)[0] == 302
    finally:
        close_app(again)


def test_guessing_the_code_is_rate_limited(fresh: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    code = printed_code(caplog)
    client = fresh.app.test_client()
    limit = fresh.ctx.get_config().web.login_max_failures
    for _ in range(limit):
        assert post_setup(client, setup_code="WRONG-CODE-0000")[0] == 403
    status, page = post_setup(client, setup_code=code)  # even the right code waits now
    assert status == 429 and "Too many" in page
    assert not UserStore(fresh.ctx.data_dir).has_users()


@pytest.mark.parametrize(("host", "ok"), [
    ("localhost", True), ("127.0.0.1:8080", True), ("[::1]:8080", True), ("LOCALHOST", True),
    (socket.gethostname(), True), (f"{socket.gethostname()}.local:443", True),
    ("evil.example", False), ("evil.example:8080", False), ("127.0.0.1.evil.example", False),
    ("localhost@evil.example", False), ("", False), ("127.0.0.1:99999", False),
])
def test_dns_rebinding_host_is_refused(appliance: Appliance, host: str, ok: bool) -> None:
    """A rebinding page sends its own name as Host; the device's own names and addresses pass."""
    with_users(appliance)
    client = appliance.app.test_client()
    for url in ("/login", "/healthz", "/api/status"):
        resp = client.get(url, headers={"Host": host})
        if ok:
            assert resp.status_code in (200, 401), (url, host)
        else:
            assert resp.status_code == 400 and "web.allowed_hosts" in resp.json["error"], (url, host)


def test_allowed_hosts_adds_names_and_star_turns_the_check_off(appliance: Appliance) -> None:
    client = appliance.app.test_client()
    assert client.get("/healthz", headers={"Host": "cam.example.net"}).status_code == 400
    cfg = appliance.ctx.get_config()
    for extra in (["cam.example.net"], ["*"]):
        hosts = cfg.model_copy(update={"web": cfg.web.model_copy(update={"allowed_hosts": extra})})
        appliance.ctx.control.execute(ApplyConfig(hosts))
        assert client.get("/healthz", headers={"Host": "cam.example.net"}).status_code == 200
    appliance.ctx.control.execute(ApplyConfig(cfg))
    assert client.get("/healthz", headers={"Host": "cam.example.net"}).status_code == 400


def test_https_is_the_default_and_plain_http_is_redirected(appliance: Appliance, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert appliance.ctx.get_config().web.https is True
    with_users(appliance)
    context = ssl_context(tmp_path)
    fingerprint = re.search(r"SHA-256 fingerprint ([0-9A-F:]{95})", caplog.text)
    assert fingerprint, caplog.text
    with WebServer(appliance.app, "127.0.0.1", 0, context) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"GET /events?label=person HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
                         % srv.port)
            head = sock.recv(4096).decode()
        assert head.startswith("HTTP/1.1 308")
        assert f"Location: https://127.0.0.1:{srv.port}/events?label=person" in head
        client = ssl.create_default_context()
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
        with client.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=5)) as tls:
            der = tls.getpeercert(binary_form=True)
            tls.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            page = b""
            while chunk := tls.recv(65536):
                page += chunk
        import hashlib

        assert fingerprint.group(1) == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        head = page.split(b"\r\n\r\n", 1)[0].decode()
        assert head.startswith("HTTP/1.1 200")
        cookie = next(line for line in head.splitlines() if line.startswith("Set-Cookie: camapp_session="))
        assert "Secure" in cookie and "HttpOnly" in cookie


def page_urls(appl: Appliance) -> list[str]:
    """Every server-rendered page (GET routes outside /api and /static), with sample ids where the route has one."""
    sample = {"event_id": "ev0", "name": "camera"}
    urls = []
    for rule in appl.app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and rule.endpoint.startswith("pages.") and rule.endpoint != "pages.setup":
            urls.append(rule.build({a: sample.get(a, "x") for a in rule.arguments}, append_unknown=False)[1])
    assert len(urls) >= 8, urls
    return sorted(urls)


def test_every_page_has_a_csp_without_inline_script(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    templates = Path(appliance.app.template_folder or "")  # type: ignore[arg-type]
    for page in page_urls(appliance):
        resp = client.get(page)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        html = resp.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page  # every script is a static file
        assert not re.search(r"\son[a-z]+\s*=", html), page  # no inline event handlers
    for template in templates.glob("*.html"):
        assert not re.search(r"\son[a-z]+\s*=|javascript:", template.read_text()), template.name


def test_data_dir_and_secret_files_are_private_whatever_the_umask(tmp_path: Path, demo_video: Path,
                                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """Another local account must not read passwords, keys or sessions, even with umask 000 and old loose modes."""
    import os
    import stat

    old = os.umask(0)
    try:
        (tmp_path / "data").mkdir(mode=0o777)
        (tmp_path / "data" / "secret_key").write_bytes(os.urandom(32))
        os.chmod(tmp_path / "data" / "secret_key", 0o666)
        appl, feeder = make_appliance(tmp_path, demo_video, seeded_store(tmp_path_factory, demo_video))
        try:
            os.chmod(appl.ctx.config_path, 0o666)  # type: ignore[arg-type]
            with_users(appl)
            client = appl.app.test_client()
            from test_web_support import login

            csrf = login(client)
            cfg = client.get("/api/config").json
            cfg["mqtt"] = {**cfg["mqtt"], "password": "broker secret"}
            assert client.put("/api/config", json=cfg, headers={"X-CSRF-Token": csrf}).status_code == 200
            ssl_context(appl.ctx.data_dir)
        finally:
            feeder.close()
            appl.close()
    finally:
        os.umask(old)
    data = appl.ctx.data_dir

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(data) == 0o700
    assert "broker secret" in appl.ctx.config_path.read_text()  # type: ignore[union-attr]
    private = [data / "secret_key", data / "users.json", data / "sessions.db", data / "tls" / "key.pem",
               appl.ctx.config_path, appl.ctx.config_path.with_name("camapp.yaml.bak")]  # type: ignore[union-attr]
    assert {str(p): oct(mode(p)) for p in private} == {str(p): "0o600" for p in private}
    assert mode(data / "tls") == 0o700


def test_the_code_is_printed_again_until_the_admin_exists(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A busy console scrolls the first print away: the same code comes back (with where to open) until the account
    exists, then stops."""
    caplog.set_level(logging.WARNING, logger="camapp.web.setupcode")
    admin_made = [False]
    urls = ["https://192.168.1.20:8080/", "https://camapp.local:8080/"]
    code = setupcode.prepare(tmp_path, lambda: urls)
    reminder = setupcode.Reminder(code, lambda: admin_made[0], lambda: urls, every=0.05)
    reminder.start()
    try:
        deadline = time.monotonic() + 5
        while printed_code(caplog) and len(codes_in(caplog)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert set(codes_in(caplog)) == {code} and len(codes_in(caplog)) >= 3
        assert "https://192.168.1.20:8080/setup" in caplog.text and "https://camapp.local:8080/setup" in caplog.text
        admin_made[0] = True
        time.sleep(0.2)
        after = len(codes_in(caplog))
        time.sleep(0.2)
        assert len(codes_in(caplog)) == after
    finally:
        reminder.close()


def codes_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "camapp.web.setupcode")
    return re.findall(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b", text)


def test_healthz_says_where_the_setup_code_is_until_the_admin_exists(fresh: Appliance) -> None:
    """Public /healthz points a new user at the console (it never shows the code: no login guards it)."""
    client = fresh.app.test_client()
    body = client.get("/healthz").get_json()
    assert "No admin account yet" in body["console"] and "/setup" in body["console"]
    assert "journalctl" in body["console"] and not re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}", body["console"])
    UserStore(fresh.ctx.data_dir).set_password("boss", "long enough pw", role="admin")
    assert "console" not in client.get("/healthz").get_json()
