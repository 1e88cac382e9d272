"""Several cameras in Debian's headless Chromium: the grid shows every camera live (decoded pictures), each camera's
page shows it with its own controls, a stalled camera is named on the grid and on the System page, and nothing is
encoded once nobody watches.
"""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_web_support import ADMIN, ADMIN_PW, Cameras, cameras, with_users  # noqa: F401 (fixtures)

from camapp.webserver import WebServer

pytestmark = pytest.mark.browser


@pytest.fixture
def site(cameras: Cameras) -> Iterator[tuple[Cameras, str]]:
    with_users(cameras.appl)
    with WebServer(cameras.appl.app, "127.0.0.1", 0) as srv:
        yield cameras, f"http://127.0.0.1:{srv.port}"


def logged_in(browser: Any, base: str) -> tuple[Any, Any, list[str]]:
    # bypass_csp: wait_for_function compiles its predicate in the page (test_web_browser.CSP_NOTE)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.goto(base + "/login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", ADMIN_PW)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return context, page, errors


def decoded(page: Any, selector: str) -> list[int]:
    """naturalWidth of each matching image: > 0 once the browser has decoded a picture into it."""
    page.wait_for_function(f"[...document.querySelectorAll({selector!r})].every(i => i.naturalWidth > 0)",
                           timeout=10_000)
    return list(page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.naturalWidth)"))


def test_the_grid_shows_every_camera_live(browser: Any, site: tuple[Cameras, str]) -> None:
    two, base = site
    hubs = {name: c.hub for name, c in two.appl.ctx.cameras.items()}
    context, page, errors = logged_in(browser, base)  # several cameras: / is the grid
    tiles = page.locator(".camtile")
    assert tiles.evaluate_all("ts => ts.map(t => t.dataset.camera)") == ["front", "garden"]
    assert decoded(page, ".camtile img.camimg") == [640, 640]
    assert page.eval_on_selector_all(".camtile img", "imgs => imgs.map(i => i.dataset.kind)") == ["stream", "stream"]
    page.wait_for_function("[...document.querySelectorAll('.camtile .state')].every(b => b.textContent == 'working')")
    assert hubs["front"].viewers == hubs["garden"].viewers == 1  # one stream each
    encoded = {name: hub.encodes for name, hub in hubs.items()}
    page.wait_for_timeout(1000)
    assert all(hub.encodes > encoded[name] for name, hub in hubs.items())  # both streams are moving
    assert "garden.avi" in page.locator('.camtile[data-camera="garden"] .fps').inner_text()
    page.click('.camtile[data-camera="garden"] h2 a')
    page.wait_for_url(base + "/cameras/garden")
    context.close()
    deadline = time.monotonic() + 10
    while any(hub.viewers for hub in hubs.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(hub.viewers == 0 for hub in hubs.values())
    before = {name: hub.encodes for name, hub in hubs.items()}
    time.sleep(1.0)
    assert {name: hub.encodes for name, hub in hubs.items()} == before  # nobody watches: nothing is encoded
    assert not errors, errors


def test_a_cameras_page_has_its_own_view_and_controls(browser: Any, site: tuple[Cameras, str]) -> None:
    two, base = site
    context, page, errors = logged_in(browser, base)
    page.goto(base + "/cameras/garden")
    assert page.locator("h1").inner_text().startswith("garden")
    assert decoded(page, "#stream") == [640]
    page.wait_for_function("document.getElementById('camstate').textContent == 'working'")
    assert two.appl.ctx.cameras["garden"].hub.viewers == 1 and two.appl.ctx.cameras["front"].hub.viewers == 0
    assert "garden.avi" in page.locator("#camsource").inner_text()
    page.uncheck("[data-overlay=boxes]")  # its controls drive its own stream
    assert "/api/cameras/garden/stream.mjpeg?boxes=0" in page.locator("#stream").get_attribute("src")
    assert decoded(page, "#stream") == [640]
    download = page.locator("text=Download frame").get_attribute("href")
    assert download == "/api/cameras/garden/snapshot.jpg?download=1"
    links = page.eval_on_selector_all(".stream a", "as => as.map(a => a.getAttribute('href'))")
    assert {"/events?camera=garden", "/recordings?camera=garden", "/zones?camera=garden"} <= set(links)
    with page.expect_request(lambda r: r.method == "POST" and "/api/snapshot" in r.url) as asked:
        page.click("#snap")  # saved by the store from this camera's frame
    assert asked.value.url.endswith("/api/snapshot?camera=garden")
    page.wait_for_selector("#toast:has-text('Snapshot saved as')")
    page.goto(base + "/cameras/porch")
    assert "no camera 'porch'" in page.locator("main").inner_text() and "front, garden" in page.locator(
        "main").inner_text()
    context.close()
    assert not errors, errors


def test_a_stalled_camera_is_named_on_the_grid_and_the_system_page(browser: Any, site: tuple[Cameras, str]) -> None:
    two, base = site
    context, page, errors = logged_in(browser, base)
    decoded(page, ".camtile img.camimg")
    two.feeders["garden"].close()  # the garden camera stops delivering
    page.wait_for_selector('.camtile[data-camera="garden"][data-status="stalled"]', timeout=10_000)
    why = page.locator('.camtile[data-camera="garden"] .why')
    assert why.is_visible() and "no frame for" in why.inner_text()
    assert page.locator('.camtile[data-camera="front"]').get_attribute("data-status") == "ok"
    page.goto(base + "/system")
    garden = page.locator('#parts li[data-camera="garden"]')
    garden.wait_for()
    page.wait_for_function("document.querySelector('#parts li[data-camera=\"garden\"]').className == 'bad'")
    assert garden.inner_text().startswith("Camera garden") and "Stalled: no frame for" in garden.inner_text()
    assert page.locator('#parts li[data-camera="front"]').get_attribute("class") == "ok"
    page.wait_for_function("document.getElementById('s-camerr').textContent == 'stalled: garden'")
    assert page.locator("#s-camera").inner_text() == "1 of 2 working"
    context.close()
    assert not errors, errors


@pytest.mark.parametrize("path", ["/", "/cameras/garden", "/system", "/events", "/recordings", "/zones", "/settings"])
def test_the_camera_pages_read_well_under_the_csp(browser: Any, site: tuple[Cameras, str], path: str) -> None:
    """As test_web_readable checks every page: no console error (the CSP kept on), no sideways scroll or spill, on a
    laptop and a phone; screenshots in test-artifacts/web/readable/."""
    from test_web_readable import ARTIFACTS, VIEWPORTS, problems_on
    from test_web_readable import logged_in as plain_login

    _, base = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report: list[str] = []
    for label, viewport, phone in VIEWPORTS:
        context, page = plain_login(browser, base, viewport, phone)
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(f"script error: {e}"))
        page.on("console", lambda m, errors=errors: errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.goto(base + path, wait_until="load")
        page.wait_for_timeout(1500)
        name = "cameras-" + (path.strip("/").replace("/", "-") or "grid")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        report += [f"{label}: {p}" for p in problems_on(page) + errors]
        context.close()
    assert not report, "\n".join(report)


def test_events_recordings_and_zones_switch_by_camera(browser: Any, site: tuple[Cameras, str]) -> None:
    _, base = site
    context, page, errors = logged_in(browser, base)
    page.goto(base + "/events")
    assert page.locator(".grid .tile").count() == 3
    assert page.locator(".evcam").all_inner_texts() == ["garden", "front", "front"]  # newest first, each named
    page.select_option("#camera-pick", "garden")
    page.click("text=Filter")
    page.wait_for_url("**/events?camera=garden**")
    assert page.locator(".grid .tile").count() == 1 and page.locator(".evcam").inner_text() == "garden"
    page.click(".grid .tile")
    assert page.locator("#evcamera").inner_text() == "garden"
    page.goto(base + "/recordings")
    assert page.locator("#rec-camera").input_value() == "front"  # one camera's timeline at a time, the first first
    page.wait_for_selector("#rec-events li a")
    assert page.locator("#rec-events li a").count() == 2
    page.select_option("#rec-camera", "garden")
    page.wait_for_function("document.querySelectorAll('#rec-events li a').length == 1")
    assert "person" in page.locator("#rec-events li a").inner_text() and "camera=garden" in page.url
    page.goto(base + "/zones?camera=garden")
    assert page.locator("h1").inner_text() == "Zones and motion mask of garden"
    assert decoded(page, "#still") == [640]
    page.select_option("#zone-camera", "front")
    page.wait_for_url("**/zones?camera=front")
    assert decoded(page, "#still") == [640]
    context.close()
    assert not errors, errors
