"""Settings for several cameras: a section per camera (its source's settings and its overrides), saving leaves
untouched overrides out (they keep following the top level), and adding or removing a camera is saved to the config
with a restart prompt that stays until the restart. Through Flask's test client and in headless Chromium.
"""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_web_support import (  # noqa: F401 (fixtures)
    ADMIN,
    ADMIN_PW,
    Cameras,
    admin,
    appliance,
    cameras,
    form_fields,
    login,
    with_users,
)

from camapp.webserver import WebServer

RESTART = "Restart camapp to apply it"


def _client(two: Cameras) -> tuple[Any, str]:
    with_users(two.appl)
    client = two.appl.app.test_client()
    return client, login(client)


def _saved(path: Path | None) -> dict[str, Any]:
    assert path is not None
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_each_camera_has_its_own_section_and_saving_it_keeps_the_overrides_as_given(cameras: Cameras) -> None:
    client, _ = _client(cameras)
    path = cameras.appl.ctx.config_path
    before = _saved(path)["cameras"]
    html = client.get("/settings").get_data(as_text=True)
    assert 'id="cameras.front"' in html and 'id="cameras.garden"' in html and "Camera garden" in html
    assert 'name="cameras.garden.path"' in html and 'name="cameras.garden.id"' not in html  # named by its key
    assert 'data-name="cameras.garden.motion"' in html and "data-inherit=" in html  # shown with the top's values
    fields = form_fields(html)
    fields["cameras.garden.fps"] = "6"
    resp = client.post("/settings", data=fields)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    saved = _saved(path)["cameras"]
    assert saved["garden"]["fps"] == 6.0 and saved["front"]["path"] == before["front"]["path"]
    # no override materialised: the cameras keep following the top-level motion, detect, zones, ...
    overrides = {"motion", "detect", "objects", "zones", "rules", "storage"}
    assert not overrides & (set(saved["garden"]) | set(saved["front"]))
    page = client.get("/settings").get_data(as_text=True)
    assert "Restart needed for: cameras" in page


def test_adding_a_camera_saves_it_and_says_to_restart(cameras: Cameras) -> None:
    client, token = _client(cameras)
    resp = client.post("/settings/cameras", data={"csrf_token": token, "name": "porch", "source": "rtsp",
                                                  "where": "rtsp://cam:s3cret@192.0.2.7/stream1"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/settings#cameras.porch")
    saved = _saved(cameras.appl.ctx.config_path)["cameras"]
    assert list(saved) == ["front", "garden", "porch"]
    assert saved["porch"]["source"] == "rtsp" and saved["porch"]["url"] == "rtsp://cam:s3cret@192.0.2.7/stream1"
    page = client.get("/settings").get_data(as_text=True)
    assert "Camera &#39;porch&#39; added to the config. " + RESTART in page
    assert "a restart will start porch" in page and 'id="cameras.porch"' in page
    assert "s3cret" not in page  # its password masked on the page, as every secret
    assert "a restart will start porch" in client.get("/").get_data(as_text=True)  # on every page until then


@pytest.mark.parametrize(("name", "source", "message"), [
    ("Front/1", "file", "a camera name is 1 to 32 of a-z"),
    ("garden", "file", "There is a camera named &#39;garden&#39; already"),
    ("events", "file", "it is reserved"),
    ("porch", "telepathy", "is not one of"),
    ("porch", "rtsp", "cameras.porch.url"),  # no URL: the config check names the field
])
def test_a_camera_that_cannot_be_added_is_refused_by_name(cameras: Cameras, name: str, source: str,
                                                          message: str) -> None:
    client, token = _client(cameras)
    before = _saved(cameras.appl.ctx.config_path)
    resp = client.post("/settings/cameras", data={"csrf_token": token, "name": name, "source": source, "where": ""},
                       follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert message in page and 'class="flash err"' in page, page[:3000]
    assert _saved(cameras.appl.ctx.config_path) == before


def test_removing_a_camera_saves_the_config_without_it(cameras: Cameras) -> None:
    client, token = _client(cameras)
    resp = client.post("/settings/cameras/garden/remove", data={"csrf_token": token}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "Camera &#39;garden&#39; removed from the config" in page and "a restart will stop garden" in page
    assert list(_saved(cameras.appl.ctx.config_path)["cameras"]) == ["front"]
    last = client.post("/settings/cameras/front/remove", data={"csrf_token": token}, follow_redirects=True)
    assert "the only camera" in last.get_data(as_text=True)
    assert list(_saved(cameras.appl.ctx.config_path)["cameras"]) == ["front"]


def test_a_second_camera_moves_the_first_under_cameras_by_its_name(admin: tuple[Any, str],
                                                                  appliance: Any) -> None:
    client, token = admin
    assert "Add a camera" in client.get("/settings").get_data(as_text=True)
    resp = client.post("/settings/cameras", data={"csrf_token": token, "name": "garden", "source": "v4l2",
                                                  "where": "1"})
    assert resp.status_code == 302
    saved = _saved(appliance.ctx.config_path)
    assert "camera" not in saved and list(saved["cameras"]) == ["camera", "garden"]
    assert saved["cameras"]["camera"]["source"] == "file" and saved["cameras"]["garden"]["device"] == 1
    assert "a restart will start garden" in client.get("/").get_data(as_text=True)


def test_a_viewer_cannot_add_or_remove_cameras(cameras: Cameras) -> None:
    from test_web_support import VIEWER, VIEWER_PW

    with_users(cameras.appl)
    client = cameras.appl.app.test_client()
    token = login(client, VIEWER, VIEWER_PW)
    before = _saved(cameras.appl.ctx.config_path)
    assert client.post("/settings/cameras", data={"csrf_token": token, "name": "porch", "source": "file",
                                                  "where": "/x.avi"}).status_code == 403
    assert client.post("/settings/cameras/garden/remove", data={"csrf_token": token}).status_code == 403
    assert _saved(cameras.appl.ctx.config_path) == before


@pytest.mark.browser
def test_a_cameras_override_saves_only_what_was_changed(browser: Any, cameras: Cameras) -> None:
    """In Chromium: turn on the garden's own motion settings, change one value: only that key is saved; then add a
    camera with the form and see the restart prompt."""
    with_users(cameras.appl)
    path = cameras.appl.ctx.config_path
    with WebServer(cameras.appl.app, "127.0.0.1", 0) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/login")
        page.fill("input[name=username]", ADMIN)
        page.fill("input[name=password]", ADMIN_PW)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(base + "/settings#cameras.garden")
        motion = page.locator('.editor[data-name="cameras.garden.motion"]')
        motion.locator("input.own").check()
        threshold = motion.locator('input[data-path=".threshold"]')
        top = cameras.appl.ctx.get_config().motion.threshold
        assert threshold.input_value() == str(top)  # shown with the top level's value
        threshold.fill(str(top + 15))
        threshold.dispatch_event("change")
        page.click("text=Save and apply")
        page.wait_for_selector("p.flash.ok")
        saved = _saved(path)["cameras"]
        assert saved["garden"]["motion"] == {"threshold": top + 15}  # only the key changed
        assert "motion" not in saved["front"]
        page.fill("#cameras-add input[name=name]", "porch")
        page.select_option("#cameras-add select[name=source]", "file")
        page.fill("#cameras-add input[name=where]", "/media/porch.avi")
        page.click("#cameras-add button[type=submit]")
        page.wait_for_selector("#restart-pending")
        assert "a restart will start porch" in page.locator("#restart-pending").inner_text()
        assert RESTART in page.locator("p.flash.ok").first.inner_text()
        porch = _saved(path)["cameras"]["porch"]
        assert (porch["source"], porch["path"]) == ("file", "/media/porch.avi")
        page.once("dialog", lambda d: d.accept())
        page.click("text=Remove camera porch")
        page.wait_for_selector("p.flash.ok:has-text('removed from the config')")
        assert "porch" not in _saved(path)["cameras"]
        page.close()


def test_saving_the_form_keeps_a_cameras_masked_password(cameras: Cameras) -> None:
    client, token = _client(cameras)
    client.post("/settings/cameras", data={"csrf_token": token, "name": "porch", "source": "rtsp",
                                           "where": "rtsp://cam:s3cret@192.0.2.7/stream1"})
    fields = form_fields(client.get("/settings").get_data(as_text=True))
    assert fields["cameras.porch.url"] == "rtsp://cam:********@192.0.2.7/stream1"  # masked on the page
    fields["cameras.porch.fps"] = "5"
    assert client.post("/settings", data=fields).status_code == 302
    porch = _saved(cameras.appl.ctx.config_path)["cameras"]["porch"]
    assert porch["url"] == "rtsp://cam:s3cret@192.0.2.7/stream1" and porch["fps"] == 5.0  # the stored one kept


@pytest.mark.browser
def test_a_cameras_rules_offer_its_own_zones(browser: Any, cameras: Cameras) -> None:
    """A camera with zones of its own: a rule of that camera offers those zones by name; another camera's rule
    offers the top level's (none here)."""
    with_users(cameras.appl)
    with WebServer(cameras.appl.app, "127.0.0.1", 0) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/login")
        page.fill("input[name=username]", ADMIN)
        page.fill("input[name=password]", ADMIN_PW)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(base + "/settings#cameras.garden")
        zones = page.locator('.editor[data-name="cameras.garden.zones"]')
        zones.locator("input.own").check()
        zones.get_by_role("button", name="Add zone").click()
        name = zones.locator('input[data-path="0.name"]')
        name.fill("lawn")
        name.dispatch_event("change")
        for camera, offered in (("garden", ["lawn"]), ("front", [])):
            rules = page.locator(f'.editor[data-name="cameras.{camera}.rules"]')
            rules.locator("input.own").check()
            rules.get_by_role("button", name="Add rule").click()
            rules.locator('input[data-path=".rules.0.name"]').focus()  # names are refreshed as fields are used
            box = rules.locator('.checks[data-path=".rules.0.zones"]')
            assert box.locator("label").all_inner_texts() == offered, camera
        page.close()
