"""Every page as a non-engineer sees it, on a laptop (1280x800) and a phone (390x844), in Debian's headless Chromium:
no sideways scroll, nothing spilling out of its card, no raw Unix time or unformatted byte count in the visible text,
no console error. Screenshots go to test-artifacts/web/readable/ (git-ignored; attach them to the report).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from test_web_support import ADMIN, ADMIN_PW, Appliance, make_appliance, seeded_store, with_users

from camapp.webserver import WebServer

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts" / "web" / "readable"
VIEWPORTS = [("laptop", {"width": 1280, "height": 800}, False), ("phone", {"width": 390, "height": 844}, True)]
PAGES = {"live": "/", "events": "/events", "event": "/events/ev0", "recordings": "/recordings", "zones": "/zones",
         "settings": "/settings", "system": "/system", "model": "/model", "account": "/account",
         "camera": "/cameras/camera"}
EPOCH = re.compile(r"(?<![\d.])1[5-9]\d{8}(?:\.\d+)?(?![\d])")  # Unix seconds of 2017..2033
BYTES = re.compile(r"(?<![\d.,])\d{7,}(?![\d])|\b\d{4,}\s*(?:bytes|B)\b")

LAYOUT = (Path(__file__).parent / "web_layout_check.js").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_video: Path) -> Iterator[tuple[Appliance, str]]:
    """One appliance UI for every page: the seeded store, a log tail like the demo's, an admin already made."""
    appl, feeder = make_appliance(tmp_path_factory.mktemp("readable"), demo_video,
                                  seeded_store(tmp_path_factory, demo_video))
    now = time.time()
    event_line = "2026-12-03 12:29:07,669 INFO    camapp.sinks: event new    person #1 {:.6f}-25def9 score=0.95 zones=-"
    appl.ctx.log_tail = lambda n: [event_line.format(now - 60), "2026-12-03 12:29:08,001 INFO    camapp.app: ok"]
    with_users(appl)
    try:
        with WebServer(appl.app, "127.0.0.1", 0) as srv:
            yield appl, f"http://127.0.0.1:{srv.port}"
    finally:
        feeder.close()
        appl.close()


def logged_in(browser: Any, base: str, viewport: dict[str, int], phone: bool) -> Any:
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", ADMIN_PW)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return context, page


def problems_on(page: Any) -> list[str]:
    found: list[str] = list(page.evaluate(LAYOUT))
    text = page.evaluate("document.body.innerText")
    found += [f"raw Unix time {m!r} in the text" for m in EPOCH.findall(text)]
    found += [f"unformatted byte count {m!r} in the text" for m in BYTES.findall(text)]
    return found


@pytest.mark.parametrize("name", list(PAGES))
def test_page_reads_well_on_a_laptop_and_a_phone(browser: Any, site: tuple[Appliance, str], name: str) -> None:
    _, base = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report: list[str] = []
    for label, viewport, phone in VIEWPORTS:
        context, page = logged_in(browser, base, viewport, phone)
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(f"script error: {e}"))
        page.on("console", lambda m, errors=errors: errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.goto(base + PAGES[name], wait_until="load")
        page.wait_for_timeout(1500)  # the page's first polls (status, charts, log) have filled it in
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        report += [f"{label}: {p}" for p in problems_on(page) + errors]
        context.close()
    assert not report, "\n".join(report)


def test_every_page_is_checked(site: tuple[Appliance, str]) -> None:
    from test_web_setup import page_urls

    appl, _ = site
    assert set(page_urls(appl)) - {"/login"} <= set(PAGES.values())  # /login: before any of these


def test_recordings_day_timeline_zooms_and_pages(browser: Any, site: tuple[Appliance, str]) -> None:
    """The day at a glance: a range in words, markers coloured by label with a legend, zoom, the list paged."""
    _, base = site
    context, page = logged_in(browser, base, {"width": 1280, "height": 800}, False)
    page.goto(base + "/recordings")
    page.wait_for_selector("#rec-track .recevent")
    assert page.locator("#rec-span").input_value() == "86400"
    assert page.locator("#rec-range").inner_text().count(":") == 2  # "Wed, Dec 2, 01:13 PM to Thu, Dec 3, 01:13 PM"
    legend = page.locator("#rec-legend").inner_text()
    assert "person (2)" in legend and "car (1)" in legend and "nothing recorded" in legend
    colours = {page.locator(f'#rec-track .recevent[data-event="{e}"]').evaluate("m => m.style.background")
               for e in ("ev0", "ev1", "ev2")}
    assert len(colours) == 2  # one colour per label
    assert page.locator("#rec-events li").count() == 3 and page.locator("#rec-page").inner_text() == "1\u20133 of 3"
    assert page.locator("#rec-ticks span").count() >= 4
    page.click("#rec-zoomin")
    page.wait_for_selector("#rec-span option[value='43200']", state="attached")
    assert page.locator("#rec-span").input_value() == "43200"
    context.close()
