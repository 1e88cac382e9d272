"""Model trust (issue 12 finding 6): with web.require_signed_models on, no unsigned model runs, whichever way it is
offered — upload, activate, manual or automatic rollback, a local path, a manifest in the config at startup or on a
live config change — and turning the policy off needs the admin's password."""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient
from test_web_support import ADMIN, ADMIN_PW, form_fields, login

from camapp.app import Appliance
from camapp.assets import MODELS_DIR
from camapp.commands import ApplyConfig
from camapp.config import AppConfig
from camapp.demo import demo_config
from camapp.detect import trust
from camapp.detect.runtime import load_interpreter
from camapp.detect.trust import ModelTrust, signature_path
from camapp.errors import AuthError, ModelTrustError
from camapp.live import parts
from camapp.web import close_app, create_app
from camapp.web.auth import UserStore

MODEL = MODELS_DIR / "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
LABELS = MODELS_DIR / "coco_labels.txt"
MANIFEST = MODELS_DIR / "ssd_mobilenet_v2_coco_quant.yaml"
KEY = Ed25519PrivateKey.generate()
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


@pytest.fixture(autouse=True)
def _restore_policy() -> Iterator[None]:
    previous = trust.current()
    yield
    trust.install(previous)


def local_model(folder: Path, *, signed: bool) -> Path:
    """A copy of the real model outside models/ with its manifest; signed by KEY or not. Returns the manifest."""
    folder.mkdir(parents=True)
    shutil.copy(MODEL, folder / MODEL.name)
    shutil.copy(LABELS, folder / LABELS.name)
    shutil.copy(MANIFEST, folder / MANIFEST.name)
    if signed:
        signature_path(folder / MODEL.name).write_bytes(KEY.sign(MODEL.read_bytes()))
    return folder / MANIFEST.name


def policy(require: bool = True) -> ModelTrust:
    return ModelTrust(require_signed=require, public_key=PUBLIC)


@pytest.mark.parametrize(("trust_policy", "where", "sig", "outcome"), [
    (ModelTrust(), "local", None, False),
    (policy(False), "local", "good", True),
    (policy(), "local", "good", True),
    (policy(), "local", None, "not signed"),
    (policy(), "local", "forged", "does not match"),
    (policy(False), "local", "forged", "does not match"),  # a bad signature is refused, policy or not
    (ModelTrust(), "local", "junk", "no web.model_public_key"),  # issue 25 #3: no key to check it is no pass
    (ModelTrust(), "local", "good", "no web.model_public_key"),  # even a real one: nothing here can verify it
    (ModelTrust(), "bundled", "junk", "no web.model_public_key"),
    (policy(), "bundled", None, False),  # shipped with the software
])
def test_check(tmp_path: Path, trust_policy: ModelTrust, where: str, sig: str | None, outcome: Any) -> None:
    path = MODEL if where == "bundled" else tmp_path / "m.tflite"
    data = MODEL.read_bytes()
    signature = {"good": KEY.sign(data), "forged": Ed25519PrivateKey.generate().sign(data),
                 "junk": b"A" * 64, None: None}[sig]
    if isinstance(outcome, str):
        with pytest.raises(ModelTrustError, match=outcome):
            trust_policy.check(path, data, signature)
    else:
        assert trust_policy.check(path, data, signature) is outcome


def test_every_interpreter_load_is_checked(tmp_path: Path) -> None:
    unsigned = local_model(tmp_path / "u", signed=False).parent / MODEL.name
    signed = local_model(tmp_path / "s", signed=True).parent / MODEL.name
    trust.install(policy())
    with pytest.raises(ModelTrustError, match="not signed"):
        load_interpreter(unsigned, threads=1, edgetpu="off")
    assert load_interpreter(signed, threads=1, edgetpu="off").model_path == signed
    signed.write_bytes(signed.read_bytes()[:-1] + b"\0")  # tampered after signing
    with pytest.raises(ModelTrustError, match="does not match"):
        load_interpreter(signed, threads=1, edgetpu="off")


def config(tmp: Path, manifest: Path | None = None, require: bool = True) -> AppConfig:
    cfg = demo_config(data_dir=tmp / "data")
    return cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"manifest": manifest or MANIFEST}),
        "web": cfg.web.model_copy(update={"model_public_key": PUBLIC, "require_signed_models": require}),
    })


def test_startup_refuses_an_unsigned_model_in_the_config(tmp_path: Path) -> None:
    with pytest.raises(ModelTrustError, match="not signed"):
        Appliance(config(tmp_path, local_model(tmp_path / "u", signed=False)))
    with Appliance(config(tmp_path, local_model(tmp_path / "s", signed=True))) as appl:
        assert appl.model_name == "ssd_mobilenet_v2_coco_quant"
    with Appliance(config(tmp_path, local_model(tmp_path / "u2", signed=False), require=False)):
        pass  # the same unsigned model runs when the policy is off


def test_live_config_change_cannot_bring_in_an_unsigned_model(tmp_path: Path) -> None:
    with Appliance(config(tmp_path)) as appl:
        running = appl.live.detector
        unsigned = config(tmp_path, local_model(tmp_path / "u", signed=False))
        with pytest.raises(ModelTrustError):
            appl.control.execute(ApplyConfig(unsigned))
        assert appl.live.detector is running and appl.cfg.model.manifest == MANIFEST
        assert trust.current() == ModelTrust.from_config(appl.cfg.web)  # the failed change left the policy alone


def test_turning_the_policy_on_refuses_when_the_running_model_is_unsigned(tmp_path: Path) -> None:
    with Appliance(config(tmp_path, local_model(tmp_path / "u", signed=False), require=False)) as appl:
        with pytest.raises(ModelTrustError, match="not signed"):
            appl.control.execute(ApplyConfig(config(tmp_path, appl.cfg.model.manifest, require=True)))
        assert appl.cfg.web.require_signed_models is False and trust.current().require_signed is False


@dataclass
class Web:
    appl: Appliance
    app: Flask
    client: FlaskClient
    csrf: str

    def upload(self, model: bytes, sig: bytes | None = None) -> Any:
        data: dict[str, Any] = {"model": (io.BytesIO(model), "m.tflite"), "labels": (io.BytesIO(LABELS.read_bytes()),
                                                                                    "labels.txt")}
        if sig is not None:
            data["signature"] = (io.BytesIO(sig), "m.sig")
        return self.client.post("/api/model", data=data, headers={"X-CSRF-Token": self.csrf},
                                content_type="multipart/form-data")

    def post(self, url: str, body: dict[str, Any], **headers: str) -> Any:
        return self.client.open(url, method="PUT" if url == "/api/config" else "POST", json=body,
                                headers={"X-CSRF-Token": self.csrf, **headers})

    def set_policy(self, require: bool, **headers: str) -> Any:
        cfg = self.client.get("/api/config").json
        cfg["web"].update(model_public_key=PUBLIC, require_signed_models=require)
        return self.post("/api/config", cfg, **headers)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    """The real appliance (real model loads, real switches) behind its real web app; policy off at first."""
    cfg = config(tmp_path, require=False)
    with Appliance(cfg, config_path=tmp_path / "camapp.yaml") as appl:
        app = create_app(appl.web_context())
        app.config["TESTING"] = True
        UserStore(appl.web_context().data_dir).set_password(ADMIN, ADMIN_PW, role="admin")
        client = app.test_client()
        try:
            yield Web(appl, app, client, login(client))
        finally:
            close_app(app)


def test_unsigned_models_cannot_be_activated_or_rolled_back_to(web: Web) -> None:
    unsigned = web.upload(MODEL.read_bytes() + b"\0")  # an unsigned model kept from before the policy
    assert unsigned.status_code == 201, unsigned.json
    bundled = web.post("/api/model", {"model_path": str(MODEL), "labels_path": str(LABELS)})
    assert bundled.status_code == 201
    assert web.set_policy(True).status_code == 200
    running = web.appl.model_name, web.appl.live.detector
    attacks = {
        "activate (manual rollback)": web.post("/api/model/activate", {"id": unsigned.json["id"]}),
        "local path": web.post("/api/model", {"model_path": unsigned.json["model"], "labels_path": str(LABELS)}),
        "upload": web.upload(MODEL.read_bytes() + b"\0\0"),
    }
    for name, resp in attacks.items():
        assert resp.status_code == 403 and "not signed" in resp.json["error"], name
    assert (web.appl.model_name, web.appl.live.detector) == running
    signed_bytes = MODEL.read_bytes() + b"\0\0\0"
    assert web.upload(signed_bytes, KEY.sign(signed_bytes)).status_code == 201
    again = web.post("/api/model/activate", {"id": bundled.json["id"]})  # trusted models still switch
    assert again.status_code == 200


def test_automatic_rollback_cannot_fall_back_to_an_unsigned_model(web: Web) -> None:
    assert web.upload(MODEL.read_bytes() + b"\0").status_code == 201  # unsigned, running while the policy is off
    signed_bytes = MODEL.read_bytes() + b"\0\0"
    assert web.upload(signed_bytes, KEY.sign(signed_bytes)).status_code == 201
    unsigned_running = parts(web.appl.live.detector)[-1]  # kept as the fallback should the new model fail
    assert web.set_policy(True).status_code == 200
    assert all(d is not unsigned_running for d in parts(web.appl.live.detector))  # reloaded under the policy alone


def test_a_signature_nothing_can_verify_is_refused(web: Web) -> None:
    """Issue 25 #3: no public key, policy off, a model with 16 bytes appended and a .sig of 64 x 'A': refused."""
    cfg = web.client.get("/api/config").json
    cfg["web"]["model_public_key"] = None
    assert web.post("/api/config", cfg).status_code == 200
    before = web.client.get("/api/model").json["installed"]
    resp = web.upload(MODEL.read_bytes() + b"\0" * 16, b"A" * 64)
    assert resp.status_code == 403, resp.json
    assert "no web.model_public_key" in resp.json["error"] and "cannot be verified" in resp.json["error"]
    assert web.client.get("/api/model").json["installed"] == before  # never stored, never activated
    assert web.upload(MODEL.read_bytes() + b"\0" * 16).status_code == 201  # the same model without it is fine


def test_turning_the_policy_off_needs_the_admins_password(web: Web) -> None:
    assert web.set_policy(True).status_code == 200
    for headers in ({}, {"X-Camapp-Password": "wrong password"}):
        resp = web.set_policy(False, **headers)
        assert resp.status_code == 403 and "needs your password" in resp.json["error"]
        assert web.appl.cfg.web.require_signed_models is True
    other_key = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)).decode()
    cfg = web.client.get("/api/config").json
    cfg["web"]["model_public_key"] = other_key  # swapping the key is as good as turning it off
    assert web.post("/api/config", cfg).status_code == 403
    assert web.set_policy(False, **{"X-Camapp-Password": ADMIN_PW}).status_code == 200
    assert web.appl.cfg.web.require_signed_models is False


def test_settings_form_asks_for_the_password_to_turn_the_policy_off(web: Web) -> None:
    assert web.set_policy(True).status_code == 200
    form = form_fields(web.client.get("/settings").get_data(as_text=True))
    assert "reauth_password" in form
    form.pop("web.require_signed_models")  # unchecking the box
    form["csrf_token"] = web.csrf
    refused = web.client.post("/settings", data=form)
    assert refused.status_code == 403 and "needs your password" in refused.get_data(as_text=True)
    assert web.appl.cfg.web.require_signed_models is True
    form["reauth_password"] = ADMIN_PW
    assert web.client.post("/settings", data=form).status_code == 302
    assert web.appl.cfg.web.require_signed_models is False


def test_auth_errors_are_permission_errors() -> None:
    assert issubclass(ModelTrustError, AuthError) and issubclass(ModelTrustError, PermissionError)
