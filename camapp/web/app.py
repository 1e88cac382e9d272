"""create_app(): the Flask app for the local UI and JSON API, on the web security of camapp/web/base.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify

from camapp.commands import SwitchModel
from camapp.detect.modelfile import model_file_backend
from camapp.web import api, api_admin, pages, setupcode, system, twofactor
from camapp.web import cameras as _cameras  # noqa: F401 - registers the camera routes on api.bp
from camapp.web import camsettings as _camsettings  # noqa: F401 - and adding/removing cameras on pages.bp
from camapp.web.auth import UserStore
from camapp.web.base import WEB_DIR, base_app
from camapp.web.context import WebContext
from camapp.web.guard import api_error
from camapp.web.modelmgr import ModelManager


def _switcher(ctx: WebContext) -> Callable[[Path, Path], None] | None:
    """Model switching for the model manager, through the controller; None when this appliance cannot switch."""
    if not ctx.control.can_switch_model:
        return None
    return lambda model, labels: ctx.control.execute(SwitchModel(model, labels, source="web"))


def create_app(ctx: WebContext, history_period_s: float = 10.0) -> Flask:
    """Build the app; call close_app(app) on shutdown to stop its health sampler."""
    app = base_app("camapp.web", ctx, str(WEB_DIR / "templates"), str(WEB_DIR / "static"))
    users: UserStore = app.extensions["camapp_users"]
    urls = ctx.urls or (lambda: [])
    history = system.HealthHistory(ctx, period_s=history_period_s)
    app.extensions.update(camapp_history=history,
                          camapp_models=ModelManager(ctx.data_dir, _switcher(ctx),
                                                     lambda: model_file_backend(ctx.get_config().model)))
    app.register_blueprint(api.bp)  # with the camera routes of camapp.web.cameras
    app.register_blueprint(api_admin.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(twofactor.bp)

    @app.get("/healthz")
    def healthz() -> Any:
        """200 when camera, pipeline and store work, else 503 with the reasons (camapp.healthcheck)."""
        report: Mapping[str, object] = ctx.health() if ctx.health is not None else {"ok": True}  # no pipeline (tests)
        if not users.has_users():
            report = {**report, "console": setupcode.console_message(urls())}
        resp = jsonify(report)
        resp.status_code = 200 if report["ok"] else 503
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/metrics")
    def metrics() -> Any:
        if not ctx.get_config().web.metrics:
            return api_error(404, "metrics are off (set web.metrics: true)")
        return Response(system.metrics_text(ctx), mimetype="text/plain; version=0.0.4")

    history.start()
    return app
