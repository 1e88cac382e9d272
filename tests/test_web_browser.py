"""The UI in a real headless Chromium (Debian's), driven by Playwright against the real server (camapp.webserver)."""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ROOT
from test_web_support import SETUP_CODE, Appliance, appliance, known_setup_code  # noqa: F401 (fixture)

from camapp.webserver import WebServer

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts" / "web"
# CSP_NOTE: Playwright's wait_for_function compiles its predicate in the page, which the UI's CSP (no eval) refuses,
# so the tours that wait on page state bypass the CSP; test_pages_run_under_the_csp keeps it on and checks that no
# page breaks a rule.




@pytest.fixture
def server(appliance: Appliance) -> Iterator[str]:
    known_setup_code(appliance)
    with WebServer(appliance.app, "127.0.0.1", 0) as srv:
        yield f"http://127.0.0.1:{srv.port}"


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def setup_admin(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/")
    assert page.url.endswith("/setup")
    shot(page, "00-setup")
    page.fill("input[name=setup_code]", SETUP_CODE.lower())  # typed as read, case does not matter
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "browser pass 1")
    page.fill("input[name=password2]", "browser pass 1")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


CAN_PLAY = "document.getElementById('clip').canPlayType(document.getElementById('clipbox').dataset.type)"


def check_clip_player(page) -> None:  # type: ignore[no-untyped-def]
    """The player shows only if this browser can decode the clip; otherwise the link says why."""
    page.wait_for_function("document.getElementById('clipbox').dataset.playable !== undefined")
    link = page.locator("#cliplink")
    if page.evaluate(CAN_PLAY) == "":
        assert page.locator("#clip").is_hidden()
        assert "your browser cannot play it" in link.inner_text()
    else:
        page.wait_for_function("document.getElementById('clip').readyState >= 1")  # metadata decoded
        assert page.locator("#clip").is_visible() and "cannot" not in link.inner_text()
    assert link.get_attribute("download") is not None


def test_clip_that_fails_to_decode_falls_back_to_the_link(browser, server: str,  # type: ignore[no-untyped-def]
                                                          appliance: Appliance) -> None:
    """A browser that only guesses ("maybe") gets the player; if the real clip then fails, the link explains."""
    page = browser.new_page(bypass_csp=True)  # see CSP_NOTE
    page.add_init_script("HTMLMediaElement.prototype.canPlayType = () => 'maybe';")
    setup_admin(page, server)
    page.goto(server + "/events/ev0")
    if appliance.store.usage()["clip_codec"] == "mp4v":  # Chromium has no MPEG-4 Part 2 decoder
        page.wait_for_function("document.getElementById('clipbox').dataset.playable === 'no'")
        assert page.locator("#clip").is_hidden()
        assert page.locator("#cliplink").inner_text() == \
            "Download clip (MPEG-4 Part 2; your browser cannot play it)"
        shot(page, "03-event-clip-fallback")
    else:
        page.wait_for_function("document.getElementById('clip').readyState >= 1")
        assert page.locator("#clip").is_visible()


def test_full_tour(browser, server: str, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # see CSP_NOTE
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    setup_admin(page, server)

    # Live: the MJPEG image loads and keeps changing; arming works
    img = page.locator("#stream")
    page.wait_for_function("document.getElementById('stream').naturalWidth > 0")
    first = img.screenshot()
    page.wait_for_timeout(600)
    assert img.screenshot() != first, "the live image did not update"
    page.click("text=Arm away")
    page.wait_for_function("document.getElementById('mode').textContent.includes('away')")
    assert appliance.ctx.state.mode == "away"
    assert page.locator("#alarm").is_hidden()  # no alarm sounding
    page.wait_for_function("document.querySelectorAll('#objects li').length >= 1")
    shot(page, "01-live")

    # Events: grid, then one event with clip and path
    page.click("nav >> text=Events")
    assert page.locator(".tile").count() == 3
    shot(page, "02-events")
    page.locator(".tile").first.click()
    page.wait_for_function("document.querySelectorAll('#pathsvg polyline').length == 1")
    check_clip_player(page)
    shot(page, "03-event")

    # Zones: draw a 4-corner zone with the mouse and save it
    page.click("nav >> text=Zones")
    page.wait_for_function("document.getElementById('still').naturalWidth > 0")
    page.wait_for_function("document.getElementById('draw').getAttribute('viewBox') === '0 0 768 576'")
    svg = page.locator("#draw")
    box = svg.bounding_box()
    for fx, fy in [(0.1, 0.5), (0.5, 0.5), (0.5, 0.9), (0.1, 0.9)]:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.fill("#zname", "path")
    page.click("#finish")
    page.click("#save")
    page.wait_for_selector("#toast:has-text('Zones saved')")
    zones = appliance.ctx.get_config().zones
    assert [z.name for z in zones] == ["path"]
    xs = [p[0] for p in zones[0].polygon]
    assert min(xs) == pytest.approx(0.1 * 768, abs=6) and max(xs) == pytest.approx(0.5 * 768, abs=6)
    shot(page, "04-zones")

    # Settings: a bad value is shown next to its field, a good one is applied
    page.click("nav >> text=Settings")
    page.fill("#f-objects\\.default\\.threshold", "3")
    page.click("text=Save and apply")
    err = page.locator(".field.invalid .field-error").first
    assert "less than or equal to 1" in err.inner_text()
    shot(page, "05-settings-error")
    page.fill("#f-objects\\.default\\.threshold", "0.5")
    page.click("text=Save and apply")
    page.wait_for_selector("text=Saved and applied")
    assert appliance.ctx.get_config().objects.default.threshold == 0.5
    shot(page, "05-settings")

    # System: live numbers and charts
    page.click("nav >> text=System")
    page.wait_for_function("document.getElementById('s-fps').textContent !== '\\u2013'")
    page.wait_for_function("document.getElementById('log').textContent.includes('log line')")
    shot(page, "06-system")
    for name, path in [("07-model", "/model"), ("08-account", "/account")]:
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        shot(page, name)
    assert errors == []


def test_phone_viewport_has_no_sideways_scroll(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                            bypass_csp=True)  # see CSP_NOTE
    setup_admin(page, server)
    page.wait_for_function("document.getElementById('stream').naturalWidth > 0")
    for name, path in [("10-phone-live", "/"), ("11-phone-events", "/events"), ("12-phone-settings", "/settings"),
                       ("13-phone-system", "/system")]:
        page.goto(server + path)
        page.wait_for_load_state("domcontentloaded")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px phone"
        shot(page, name)
    page.goto(server + "/")
    stream_box = page.locator("#stream").bounding_box()
    assert stream_box["width"] > 300  # the video fills the phone's width


def test_pages_run_under_the_csp(browser, server: str, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    """Every page with the Content-Security-Policy enforced: nothing refused, no script error."""
    from test_web_setup import page_urls

    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    setup_admin(page, server)
    for path in page_urls(appliance):
        page.goto(server + path, wait_until="load")
        page.wait_for_timeout(400)  # let the page's scripts run their first fetches
    # The account page under the CSP: this browser's session is listed; adding a user needs your password again
    page.goto(server + "/account")
    page.wait_for_selector("#sessions li:has-text('this browser')")
    page.fill("#userform input[name=username]", "guest")
    page.fill("#userform input[name=password]", "guest pass 12")
    page.fill("#userform input[name=confirm]", "browser pass 1")
    page.click("#userform button[type=submit]")
    page.wait_for_selector("#users li:has-text('guest')")
    # a token needs the password too; it is listed with where it was made and its last use, and the System page
    # tells the admins (issue 25)
    page.fill("#tokform input[name=name]", "backup")
    page.fill("#tokform input[name=confirm]", "browser pass 1")
    page.click("#tokform button[type=submit]")
    page.wait_for_selector("#newtoken:has-text('cam_')")
    page.wait_for_selector("#tokens li:has-text('backup'):has-text('from 127.0.0.1'):has-text('last used never')")
    page.wait_for_selector("#alltokens li:has-text('admin · backup')")
    # two-factor sign-in set up from the page with a real code for the key it shows
    import pyotp

    page.fill("#totpsetup input[name=confirm]", "browser pass 1")
    page.click("#totpsetup button[type=submit]")
    page.wait_for_selector("#totpnew:not([hidden]) #totpsecret:not(:empty)")
    page.fill("#totpenable input[name=code]", pyotp.TOTP(page.inner_text("#totpsecret")).now())
    page.click("#totpenable button[type=submit]")
    page.wait_for_selector("#totpstate:has-text('On:')")
    page.wait_for_selector("#users li:has-text('admin · admin · two-factor')")
    page.goto(server + "/system")
    page.wait_for_selector("#notices li:has-text('API token'):has-text('backup')")
    page.wait_for_selector("#lockouts li:has-text('No lockouts now')")
    assert problems == []


VIDEO_STATE = "(() => { const v = document.getElementById('%s'); return [v.readyState, v.duration, v.currentTime]; })()"


def test_every_event_clip_plays_with_its_pre_and_post_roll(browser, server: str,  # type: ignore[no-untyped-def]
                                                            appliance: Appliance) -> None:
    page = browser.new_page(bypass_csp=True)  # see CSP_NOTE
    setup_admin(page, server)
    cfg = appliance.store.cfg
    events = appliance.store.list_events()
    assert events and all(e["has_clip"] for e in events)
    for event in events:
        page.goto(server + f"/events/{event['id']}")
        page.wait_for_function("document.getElementById('clip').readyState >= 2")  # a frame is decoded
        ready, duration, _ = page.evaluate(VIDEO_STATE % "clip")
        expected = event["end_time"] - event["start_time"] + cfg.pre_roll_s + cfg.post_roll_s
        assert ready >= 2 and abs(duration - expected) <= 1.0, (event["id"], duration, expected)


def test_recordings_timeline_plays_from_where_it_is_clicked(browser, server: str,  # type: ignore[no-untyped-def]
                                                            appliance: Appliance) -> None:
    page = browser.new_page(bypass_csp=True)  # see CSP_NOTE
    setup_admin(page, server)
    last = max(appliance.store.list_events(), key=lambda e: e["start_time"])
    page.goto(server + f"/recordings?t={last['start_time'] + 0.5:.3f}")  # centred on the event, playing from there
    page.wait_for_function("document.querySelectorAll('#rec-track .recseg').length > 0")
    assert page.locator("#rec-track .recevent").count() >= 1
    page.wait_for_function("document.getElementById('rec-video').readyState >= 2")
    page.wait_for_function("document.getElementById('rec-video').currentTime > 0.2")  # it seeks and plays
    assert "Playing" in page.locator("#rec-playing").inner_text()
    shot(page, "09-recordings")
