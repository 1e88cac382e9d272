"""Model rollout: the canary decides whether anyone else gets the model; downloads pin the console's certificate
and check every file's sha256."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camapp.errors import CommandError
from camapp.fleet.download import fetch
from camapp.fleet.rollout import ModelStore, Rollouts
from camapp.web.tls import ensure_certificate, fingerprint, ssl_context

SPEC = {"model_sha256": "ab" * 32}


class Fleet:
    """Devices as the registry shows them; `send` records who got the command, devices report what they did."""

    def __init__(self, n: int = 3) -> None:
        self.devices = {f"d{i}": {"id": f"d{i}", "online": True, "problems": {}, "reported": {}} for i in range(n)}
        self.sent: list[str] = []

    def send(self, device: dict[str, Any], spec: dict[str, Any]) -> int:
        self.sent.append(device["id"])
        return len(self.sent)

    def report(self, device: str, version: int, result: str, error: str = "") -> None:
        self.devices[device]["reported"] = {"command": {"version": version, "result": result, "error": error}}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Fleet, Rollouts]]:
    f = Fleet()
    rollouts = Rollouts(tmp_path / "rollouts.json", lambda: list(f.devices.values()), f.send)
    yield f, rollouts
    rollouts.close()


@pytest.mark.parametrize(("canary", "expect", "sent", "detail"), [
    ("done", "done", ["d0", "d1", "d2"], "3 of 3 switched"),
    ("refused", "failed", ["d0"], "canary d0: model.tflite: not signed"),
    ("sick", "failed", ["d0"], "canary d0: stalled; nobody else got it"),
    ("gone", "failed", ["d0"], "canary d0: offline; nobody else got it"),
])
def test_the_canary_decides(fleet: Any, canary: str, expect: str, sent: list[str], detail: str) -> None:
    f, rollouts = fleet
    f.devices["d1"]["problems"] = {"disk low": {}}  # already there: not the model's doing
    r = rollouts.start(list(f.devices.values()), SPEC, {"id": "abababababab", "name": "m"}, canary_s=5)
    assert (r["canary"], f.sent) == ("d0", ["d0"])
    rollouts.tick(100.0)
    assert f.sent == ["d0"]  # nothing reported yet: nobody else
    if canary == "refused":
        f.report("d0", 1, "refused", "model.tflite: not signed")
    else:
        f.report("d0", 1, "done")
    rollouts.tick(101.0)
    f.devices["d0"]["problems"] = {"stalled": {}} if canary == "sick" else {}
    f.devices["d0"]["online"] = canary != "gone"
    rollouts.tick(103.0)
    assert f.sent == ["d0"]  # the canary period (5 s) has not passed
    rollouts.tick(107.0)
    for device, version in ((d, i + 2) for i, d in enumerate(f.sent[1:])):
        f.report(device, version, "done")
    rollouts.tick(108.0)
    [final] = rollouts.all()
    assert (final["state"], f.sent) == (expect, sent)
    assert detail in final["detail"]


def test_a_canary_must_be_online(fleet: Any) -> None:
    f, rollouts = fleet
    for d in f.devices.values():
        d["online"] = False
    with pytest.raises(CommandError, match="no member of the target is online"):
        rollouts.start(list(f.devices.values()), SPEC, {"id": "abababababab", "name": "m"}, 5)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The console's kind of HTTPS server (its self-signed certificate) serving one file."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "model.tflite").write_bytes(b"model bytes")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "www"))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = ssl_context(tmp_path / "tls-home").wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield (f"https://127.0.0.1:{server.server_address[1]}/model.tflite",
           fingerprint(ensure_certificate(tmp_path / "tls-home")[0]))
    server.shutdown()


def test_a_download_pins_the_certificate_and_checks_the_hash(served: tuple[str, str], tmp_path: Path) -> None:
    url, pin = served
    digest = hashlib.sha256(b"model bytes").hexdigest()
    assert fetch(url, digest, pin, 1000) == b"model bytes"
    other = fingerprint(ensure_certificate(tmp_path / "other")[0])
    for args, message in [((url, digest, other, 1000), "certificate is not the one the command names"),
                          ((url, "00" * 32, pin, 1000), "sha256 does not match"),
                          ((url, digest, pin, 5), "larger than 5 bytes"),
                          ((url.replace("https", "http"), digest, pin, 1000), "only https://"),
                          ((url.replace("model", "nothing"), digest, pin, 1000), "HTTP 404")]:
        with pytest.raises(CommandError, match=message):
            fetch(*args)


def test_the_model_store_keeps_files_by_hash(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models", 100)
    entry = store.add(b"m" * 50, b"person\ncar\n", None, "ssd")
    assert store.add(b"m" * 50, b"person\ncar\n", None, "ssd")["id"] == entry["id"]
    assert store.path(entry["id"], "model.tflite").read_bytes() == b"m" * 50  # type: ignore[union-attr]
    assert store.path(entry["id"], "../meta.json") is None and store.path("zzz", "model.tflite") is None
    with pytest.raises(CommandError, match="larger than 100 bytes"):
        store.add(b"m" * 101, b"person\n", None, "big")
    with pytest.raises(CommandError, match="labels"):
        store.add(b"m", b"", None, "nolabels")
    spec = store.spec(entry, "https://fleet.lan:8443", "AA:BB")
    assert spec["model_url"] == f"https://fleet.lan:8443/fleet-models/{entry['id']}/model.tflite"
    assert spec["signature_url"] is None
