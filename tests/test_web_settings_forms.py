"""Settings through the form alone (issue 23): a zone drawn on the live frame, a GPIO output on a picked pin and a rule
for that zone and output, made with fields and buttons (no JSON typed), saved, and taking effect: a person walking
into the zone raises the output's pin on gpiozero's MockFactory."""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

import time
from typing import Any

import pytest
from gpiozero import Device
from test_web_readable import ARTIFACTS, logged_in
from test_web_support import Appliance, appliance, with_users  # noqa: F401 (fixture)

from camapp.alarm.sink import AlarmSink
from camapp.config import load_config
from camapp.control import Controller
from camapp.state import ApplianceState
from camapp.types import Detections, EventMessage, Frame, FrameResult, MotionResult, TrackedObject
from camapp.webserver import WebServer
from camapp.zones import ZoneMap

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("factory")]
CORNERS = [(0.1, 0.5), (0.6, 0.5), (0.6, 0.95), (0.1, 0.95)]  # of the frame: the lower left of the street


def editor(page: Any, name: str) -> Any:
    return page.locator(f'.editor[data-name="{name}"]')


def build_in_the_form(page: Any) -> None:
    zones = editor(page, "zones")
    zones.get_by_role("button", name="Add zone").click()
    zones.locator('input[data-path="0.name"]').fill("porch")
    zones.get_by_role("button", name="Draw on the live frame").click()
    pad = zones.locator(".drawpad svg")
    zones.locator(".drawpad img").evaluate("img => img.decode()")  # the live frame is there to draw on
    box = pad.bounding_box()
    for fx, fy in CORNERS:
        pad.click(position={"x": fx * box["width"], "y": fy * box["height"]})

    page.check("#f-gpio\\.enabled")
    page.select_option("#f-gpio\\.pin_factory", "mock")
    outputs = editor(page, "gpio.outputs")
    outputs.get_by_role("button", name="Add output").click()
    outputs.locator('input[data-path="0.name"]').fill("siren")
    outputs.locator('select[data-path="0.kind"]').select_option("buzzer")
    outputs.locator(".pin select").select_option(label="GPIO17 (pin 11)")

    page.select_option("#f-rules\\.arming", "away")
    rules = editor(page, "rules.rules")
    rules.get_by_role("button", name="Add rule").click()
    first = rules.locator(".item .sub > label").first.inner_text()
    assert first == "Name", f"a rule's fields come in the model's order, its name first (got {first!r})"
    rules.locator('input[data-path="0.name"]').fill("porch-siren")
    rules.locator('input[data-path="0.labels"]').fill("person")
    rules.locator('[data-path="0.zones"] label:has-text("porch") input').check()
    rules.get_by_role("button", name="Add output action").click()
    rules.locator('select[data-path="0.actions.outputs.0.output"]').select_option("siren")


def test_zone_rule_and_output_made_in_the_form_raise_the_pin(browser: Any, appliance: Appliance) -> None:
    with_users(appliance)
    with WebServer(appliance.app, "127.0.0.1", 0) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        context, page = logged_in(browser, base, {"width": 1280, "height": 800}, False)
        page.set_default_timeout(10000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/settings")
        build_in_the_form(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        editor(page, "rules.rules").screenshot(path=str(ARTIFACTS / "settings-rule-form.png"))
        page.click("text=Save and apply")
        page.wait_for_load_state("load")
        problems = page.locator(".flash.err, .field-error").all_inner_texts()
        assert not problems, "\n".join(problems)
        page.wait_for_selector("text=Saved and applied")
        context.close()
    assert errors == []

    cfg = load_config(appliance.ctx.config_path)  # what the appliance starts with from now on
    assert [z.name for z in cfg.zones] == ["porch"] and len(cfg.zones[0].polygon) == 4
    xs, ys = [p[0] for p in cfg.zones[0].polygon], [p[1] for p in cfg.zones[0].polygon]
    assert (min(xs), max(xs)) == (pytest.approx(0.1 * 768, abs=6), pytest.approx(0.6 * 768, abs=6))  # frame pixels
    assert (min(ys), max(ys)) == (pytest.approx(0.5 * 576, abs=6), pytest.approx(0.95 * 576, abs=6))
    assert [(o.name, o.kind, o.pin) for o in cfg.gpio.outputs] == [("siren", "buzzer", 17)]
    rule = cfg.rules.rules[0]
    assert (rule.name, rule.labels, rule.zones, [a.output for a in rule.actions.outputs]) == (
        "porch-siren", ["person"], ["porch"], ["siren"])

    zones = ZoneMap(cfg.zones, (768, 576))
    control = Controller(ApplianceState(mode=cfg.rules.arming))
    with AlarmSink(cfg.rules, cfg.gpio, state=control.state, bus=control.bus, control=control,
                   pin_factory=Device.pin_factory) as sink:
        for t, x, expect in [(10.0, 700.0, 0.0), (20.0, 200.0, 1.0)]:  # outside the zone, then inside it
            box = (x - 20, 400.0, x + 20, 520.0)
            person = TrackedObject(int(t), "person", box, 0.9, t, t, hits=5, confirmed=True)
            inside = tuple(sorted(zones.update([person], t)[int(t)]))
            new = EventMessage("new", f"{t:.6f}-abcdef", int(t), "person", 0.9, 0.9, box, t, None, inside, inside)
            sink.handle(FrameResult(Frame(appliance.results[0].frame.image, t, int(t)),
                                    MotionResult(appliance.results[0].motion.boxes, 0.1), Detections.empty(),
                                    (person,), (new,)))
            time.sleep(0.2)
            assert float(Device.pin_factory.pin(17).state) == expect, (x, inside)
