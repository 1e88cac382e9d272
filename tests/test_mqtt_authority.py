"""CommandGate on its own (a fake clock): enabled commands, signatures, the replay window and the rate limit."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, need

from camapp.config.mqtt import MqttConfig
from camapp.errors import CommandError
from camapp.mqtt.authority import CommandGate, LogBudget, sign, signed_payload

KEY = "a shared key of 16+ characters"
TOPIC = "camapp/dev/set/mode"
NOW = 1_750_000_000


class Clock:
    def __init__(self) -> None:
        self.wall, self.mono = float(NOW), 0.0

    def advance(self, s: float) -> None:
        self.wall += s
        self.mono += s


def gate(clock: Clock, **cfg: Any) -> CommandGate:
    config = MqttConfig.model_validate({"host": "h", "allowed_commands": ["mode", "snapshot"], **cfg})
    return CommandGate(config, clock=lambda: clock.wall, monotonic=lambda: clock.mono)


def test_commands_are_off_by_default() -> None:
    g = CommandGate(MqttConfig.model_validate({"host": "h"}))
    assert not g.enabled
    with pytest.raises(CommandError, match="not enabled"):
        g.admit(TOPIC, "mode", b"away", retained=False)


def test_the_old_commands_switch_is_explained() -> None:
    with pytest.raises(ValueError, match=r"replaced by mqtt\.allowed_commands"):
        MqttConfig.model_validate({"host": "h", "commands": True})


@pytest.mark.parametrize(("name", "payload", "retained", "refusal"), [
    ("mode", b"away", False, None),
    ("armed", b"ON", False, "set/armed is not enabled"),
    ("mode", b"away", True, "retained"),
])
def test_unsigned_gate(name: str, payload: bytes, retained: bool, refusal: str | None) -> None:
    g = gate(Clock())
    if refusal is None:
        assert g.admit(f"camapp/dev/set/{name}", name, payload, retained=retained) == payload
    else:
        with pytest.raises(CommandError, match=refusal):
            g.admit(f"camapp/dev/set/{name}", name, payload, retained=retained)


def forged(**change: Any) -> bytes:
    body = json.loads(signed_payload(KEY, TOPIC, "away", NOW, "nonce-0001"))
    return json.dumps({**body, **change}).encode()


@pytest.mark.parametrize(("payload", "refusal"), [
    (signed_payload(KEY, TOPIC, "away", NOW, "nonce-0001").encode(), None),
    (b"away", "unsigned"),
    (forged(value="disarmed"), "bad signature"),  # value changed after signing
    (signed_payload("another key of 16 chars", TOPIC, "away", NOW, "nonce-0001").encode(), "bad signature"),
    (signed_payload(KEY, "camapp/dev/set/armed", "away", NOW, "nonce-0001").encode(), "bad signature"),
    (signed_payload(KEY, TOPIC, "away", NOW - 120, "nonce-0001").encode(), "timestamp is \\+120 s off"),
    (signed_payload(KEY, TOPIC, "away", NOW + 120, "nonce-0001").encode(), "timestamp is -120 s off"),
    (forged(ts="1750000000"), "ts must be whole"),
    (forged(nonce="x"), "nonce must be"),
    (b"[1, 2]", "JSON object"),
])
def test_signed_gate(payload: bytes, refusal: str | None) -> None:
    g = gate(Clock(), command_key=KEY)
    if refusal is None:
        assert g.admit(TOPIC, "mode", payload, retained=False) == b"away"
    else:
        with pytest.raises(CommandError, match=refusal):
            g.admit(TOPIC, "mode", payload, retained=False)


def test_a_signed_command_cannot_be_replayed() -> None:
    clock = Clock()
    g = gate(clock, command_key=KEY, command_max_age_s=30)
    msg = signed_payload(KEY, TOPIC, "away", NOW, "nonce-0001").encode()
    assert g.admit(TOPIC, "mode", msg, retained=False) == b"away"
    clock.advance(5)
    with pytest.raises(CommandError, match="replayed"):
        g.admit(TOPIC, "mode", msg, retained=False)
    clock.advance(40)  # the nonce is forgotten only once the timestamp is out of the window anyway
    with pytest.raises(CommandError, match="timestamp"):
        g.admit(TOPIC, "mode", msg, retained=False)
    fresh = signed_payload(KEY, TOPIC, "home", int(clock.wall), "nonce-0002").encode()
    assert g.admit(TOPIC, "mode", fresh, retained=False) == b"home"


def test_rate_limit_per_command_kind() -> None:
    clock = Clock()
    g = gate(clock, command_rate_per_min=3)
    for _ in range(3):
        g.admit(TOPIC, "mode", b"away", retained=False)
    with pytest.raises(CommandError, match="rate limit"):
        g.admit(TOPIC, "mode", b"away", retained=False)
    g.admit("camapp/dev/set/snapshot", "snapshot", b"", retained=False)  # another kind has its own budget
    clock.advance(61)
    g.admit(TOPIC, "mode", b"away", retained=False)


def test_refused_signed_commands_do_not_use_up_the_rate() -> None:
    g = gate(Clock(), command_key=KEY, command_rate_per_min=1)
    for _ in range(5):
        with pytest.raises(CommandError, match="unsigned"):
            g.admit(TOPIC, "mode", b"away", retained=False)
    assert g.admit(TOPIC, "mode", signed_payload(KEY, TOPIC, "away", NOW, "nonce-0003").encode(),
                   retained=False) == b"away"


def test_log_budget() -> None:
    clock = Clock()
    budget = LogBudget(per_minute=2, monotonic=lambda: clock.mono)
    assert [budget.take() for _ in range(5)] == [0, 0, None, None, None]
    clock.advance(61)
    assert budget.take() == 3


def test_sign_matches_the_documented_recipe() -> None:
    import hashlib
    import hmac

    text = f"{TOPIC}\naway\n{NOW}\nnonce-0001".encode()
    assert sign(KEY, TOPIC, "away", NOW, "nonce-0001") == hmac.new(KEY.encode(), text, hashlib.sha256).hexdigest()


def test_the_documented_shell_recipe_is_accepted(tmp_path: Path) -> None:
    """docs/mqtt.md's camapp-command.sh, run as a Home Assistant user would, produces what the gate accepts."""
    need(shutil.which("openssl") is not None, "openssl", "apt-get install -y openssl")
    doc = (ROOT / "docs" / "mqtt.md").read_text()
    script = re.search(r"```sh\n(#!/bin/sh\n# camapp-command\.sh.*?)```", doc, re.S)
    assert script, "docs/mqtt.md lost its camapp-command.sh recipe"
    (tmp_path / "cmd.sh").write_text(script.group(1))
    (tmp_path / "key.txt").write_text(KEY)
    out = subprocess.run(["sh", str(tmp_path / "cmd.sh"), TOPIC, "away", str(tmp_path / "key.txt")],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    g = CommandGate(MqttConfig.model_validate({"host": "h", "allowed_commands": ["mode"], "command_key": KEY}))
    assert g.admit(TOPIC, "mode", out.strip().encode(), retained=False) == b"away"
