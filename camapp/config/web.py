"""Config for the local web UI and stream (owned by the web work; extend here)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from camapp.config.base import Section

HOST_RE = re.compile(r"^(\[?[0-9A-Fa-f:.]+\]?|[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?)$")


class WebConfig(Section):
    """HTTP server, MJPEG stream, login security and model uploads."""

    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (0: any free port, for tests).")
    stream_fps: float = Field(10.0, gt=0, le=60, description="Highest frame rate sent to viewers.")
    stream_width: int = Field(960, ge=160, le=3840, description="Width of the streamed JPEG (height keeps aspect).")
    jpeg_quality: int = Field(75, ge=10, le=100, description="JPEG quality of the stream.")
    https: bool = Field(True, description="Serve HTTPS with a self-signed certificate made on first start (its "
                                          "fingerprint is logged); plain http:// on the same port redirects to it.")
    max_connections: int = Field(
        400, ge=16, le=100000,
        description="Most client connections held at once (lowered to fit the open-file limit); at the cap a new "
                    "connection closes the longest-idle one.")
    max_viewers: int = Field(20, ge=1, le=200, description="Most live-stream viewers at once (each holds a thread); "
                                                           "more get 503.")
    idle_timeout_s: float = Field(15, ge=1, le=3600, description="Close a connection idle this long (keep-alive, or "
                                                                "one that never sends a request).")
    request_timeout_s: float = Field(30, ge=1, le=3600, description="A request's headers and body must arrive "
                                                                   "within this many seconds.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra names or addresses the UI answers to (the Host header), besides localhost, the host "
                    "name and the device's own addresses; '*' turns the check off (behind a proxy that does it).")
    public_url: str | None = Field(
        None, description="Base URL other devices reach the UI at (e.g. https://cam.example.lan behind a proxy): the "
        "links in MQTT event messages start with it. Unset: https://<this device's first LAN address>:<port>.")
    session_hours: float = Field(168, gt=0, le=8760, description="How long a login lasts.")
    login_max_failures: int = Field(
        5, ge=1, le=1000,
        description="Wrong passwords an account, a network (/24 IPv4, /64 IPv6) or a known browser may send before "
                    "it is locked out (for login_lockout_s, doubled with each further failure).")
    login_window_s: float = Field(
        300, gt=0, le=86400,
        description="Seconds without a failure after which an account's, network's or browser's failures are "
                    "forgotten; also the longest a lockout lasts, and the window login_global_max_failures counts in.")
    login_lockout_s: float = Field(
        15, gt=0, le=86400, description="The first lockout after login_max_failures wrong passwords, in seconds; "
                                        "each further failure doubles it, up to login_window_s.")
    login_global_max_failures: int = Field(
        100, ge=1, le=100000,
        description="Wrong passwords from everyone together within login_window_s before every login from a browser "
                    "not known here waits (a browser that logged in to the account before still gets in).")
    max_upload_mb: float = Field(64, gt=0, le=1024, description="Largest model upload accepted, in MB.")
    metrics: bool = Field(False, description="Serve Prometheus text metrics at /metrics (needs login or token).")
    model_public_key: str | None = Field(
        None, description="Ed25519 public key (PEM, or base64 of the 32 raw bytes) that signs uploaded models."
    )
    require_signed_models: bool = Field(
        False, description="Run only models signed by model_public_key (<model>.sig) or shipped in models/: checked "
        "at every model load (startup, config change, upload, activate, rollback). Turning it off from the UI or API "
        "needs the admin's password."
    )

    @field_validator("model_public_key")
    @classmethod
    def _key_loads(cls, value: str | None) -> str | None:
        if value:
            from camapp.web.signing import load_public_key  # lazy: keeps config import light

            load_public_key(value)
        return value or None

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_are_names(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry != "*" and not HOST_RE.match(entry):
                raise ValueError(f"{entry!r} is not a host name or address (no scheme, port or path)")
        return value

    @field_validator("public_url")
    @classmethod
    def _is_a_base_url(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError(f"{value!r} is not an http(s) base URL such as https://cam.example.lan")
        return value or None

    @model_validator(mode="after")
    def _signed_needs_key(self) -> WebConfig:
        if self.require_signed_models and not self.model_public_key:
            raise ValueError("web.require_signed_models needs web.model_public_key")
        return self
