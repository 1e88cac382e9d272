"""The whole appliance with two cameras, as `camapp run` runs it (real model, one shared store, the web server), seen
in headless Chromium: both cameras live in the grid, each camera's events under its filter, and a camera whose file
disappears named on the grid and the System page while the other keeps going.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from polling import wait_for
from test_web_support import ADMIN, ADMIN_PW

from camapp.app import Appliance
from camapp.config import parse_config
from camapp.types import CameraName
from camapp.web.auth import UserStore

pytestmark = pytest.mark.browser



def test_two_file_cameras_in_the_browser(tmp_path: Path, demo_video: Path, model_manifest: Path, browser: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from clips import cut

    monkeypatch.setenv("CAMAPP_DATA", str(tmp_path / "data"))
    front = cut(demo_video, tmp_path / "front.mp4", 30)  # 3 s of the street, looped: people in it at once
    garden = shutil.copy(front, tmp_path / "garden.mp4")
    camera = {"source": "file", "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}
    cfg = parse_config({"web": {"host": "127.0.0.1", "https": False}, "cameras": {
        "front": {**camera, "path": str(front)}, "garden": {**camera, "path": str(garden)}},
        "storage": {"path": str(tmp_path / "store"), "min_free_mb": 0}})
    cfg = cfg.model_copy(update={"web": cfg.web.model_copy(update={"port": 0})})
    UserStore(tmp_path / "store").set_password(ADMIN, ADMIN_PW, role="admin")  # the data dir: storage.path
    app = Appliance(cfg)
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(code=app.run_forever()), name="test-appliance")
    thread.start()
    try:
        port = wait_for("the web server", lambda: app.web_port, 30)
        base = f"http://127.0.0.1:{port}"
        # bypass_csp: wait_for_function compiles its predicate in the page (test_web_browser.CSP_NOTE)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page.goto(base + "/login")
        page.fill("input[name=username]", ADMIN)
        page.fill("input[name=password]", ADMIN_PW)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/", wait_until="commit")  # "load" waits for a first frame of each stream
        page.wait_for_selector(".camtile")
        assert page.locator(".camtile").evaluate_all("ts => ts.map(t => t.dataset.camera)") == ["front", "garden"]
        page.wait_for_function("[...document.querySelectorAll('.camtile img')].every(i => i.naturalWidth > 0)",
                               timeout=30_000)
        assert all(u.hub.viewers == 1 for u in app.units)  # each camera's stream, encoded for its viewer
        page.wait_for_function("[...document.querySelectorAll('.camtile .state')].every(b => b.textContent == "
                               "'working')", timeout=30_000)
        store = app.store
        assert store is not None
        wait_for("events of both cameras in the one store", lambda: all(
            store.list_events(camera=CameraName(c)) for c in ("front", "garden")), 90)
        for name in ("front", "garden"):
            page.goto(f"{base}/events?camera={name}", wait_until="domcontentloaded")
            shown = page.locator(".evcam").all_inner_texts()
            assert shown and set(shown) == {name}, (name, shown)
        page.goto(base + "/cameras/garden", wait_until="commit")  # its own controls: a snapshot of its frame
        page.wait_for_function("document.getElementById('stream').naturalWidth > 0", timeout=30_000)
        page.click("#snap")
        page.wait_for_selector("#toast:has-text('Snapshot saved as')")
        snap_id = page.locator("#toast").inner_text().removeprefix("Snapshot saved as ")
        saved = wait_for("the garden's snapshot in the store", lambda: (r := page.request.get(
            f"{base}/api/snapshots/{snap_id}")).ok and r, 20)
        assert saved.headers["content-type"] == "image/jpeg" and len(saved.body()) > 10_000
        page.goto(base + "/", wait_until="commit")
        garden.unlink()  # its file disappears: at the end of its pass it cannot be reopened
        page.wait_for_selector('.camtile[data-camera="garden"][data-status="stalled"]', timeout=60_000)
        assert page.locator('.camtile[data-camera="front"]').get_attribute("data-status") == "ok"
        page.goto(base + "/system", wait_until="domcontentloaded")
        page.wait_for_function("document.querySelector('#parts li[data-camera=\"garden\"]') && "
                               "document.querySelector('#parts li[data-camera=\"garden\"]').className == 'bad'",
                               timeout=20_000)
        assert "Stalled: no frame for" in page.locator('#parts li[data-camera="garden"]').inner_text()
        assert page.locator('#parts li[data-camera="front"]').get_attribute("class") == "ok"
        page.close()
        assert thread.is_alive()
    finally:
        app.stop_event.set()
        thread.join(30)
        app.close()
    assert outcome == {"code": 0}
