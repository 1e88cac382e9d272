"""What the web app needs from the rest of the appliance, passed in by the wiring (camapp/app.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from camapp.annotate import Overlay
from camapp.commands import Commander
from camapp.config import AppConfig
from camapp.health import PipelineFigures
from camapp.healthcheck import HealthReport
from camapp.store.records import EventDetail, EventRecord, SegmentRecord, StoreUsage
from camapp.types import CameraName, FrameResult

MediaKind = Literal["snapshot", "snapshot_clean", "thumbnail", "clip"]
MEDIA_KINDS: tuple[MediaKind, ...] = ("snapshot", "snapshot_clean", "thumbnail", "clip")


class Control(Commander, Protocol):
    """Runs the UI's commands (camapp.control.Controller)."""

    @property
    def can_switch_model(self) -> bool: ...


class StateReader(Protocol):
    """The appliance state as the UI shows it (camapp.state.ApplianceState)."""

    def as_dict(self) -> dict[str, str | bool | dict[str, bool]]: ...


class Stream(Protocol):
    """One camera's latest frame, JPEG-encoded once per overlay for every viewer (camapp.stream.FrameHub)."""

    encodes: int

    @property
    def viewers(self) -> int: ...

    def latest(self) -> FrameResult | None: ...

    def jpeg(self, overlay: Overlay = ...) -> tuple[int, bytes] | None: ...

    def frames(self, overlay: Overlay = ..., timeout: float = ...) -> Iterator[bytes]: ...


class StatsReader(Protocol):
    """Pipeline counters (camapp.health.PipelineStats)."""

    def as_dict(self) -> PipelineFigures: ...


class ClipLike(Protocol):
    """An event's clip: MP4 bytes made from the recording (`data`) or a clip file (`path`), a download name and an
    ETag (camapp.store.clips.Clip)."""

    @property
    def name(self) -> str: ...

    @property
    def etag(self) -> str: ...

    @property
    def data(self) -> bytes | None: ...

    @property
    def path(self) -> Path | None: ...


class EventStoreLike(Protocol):
    """The read/delete side of the event store that the UI uses; its rows are the typed records of
    camapp.store.records (their JSON Schema is in /api/openapi.json). `camera` narrows a listing to one camera's
    events, footage and counts (None: the whole appliance's)."""

    def list_events(  # noqa: PLR0913 - keyword-only filters, each optional
        self, *, limit: int = 50, before: float | None = None, label: str | None = None,
        zone: str | None = None, since: float | None = None, until: float | None = None,
        camera: CameraName | None = None,
    ) -> list[EventRecord]: ...

    def get_event(self, event_id: str) -> EventDetail | None: ...

    def delete_event(self, event_id: str) -> bool: ...

    def media_path(self, event_id: str, kind: str) -> Path | None: ...

    def snapshot_path(self, snap_id: str) -> Path | None: ...

    def clip(self, event_id: str) -> ClipLike | None: ...

    def usage(self, camera: CameraName | None = None) -> StoreUsage: ...

    def list_segments(self, since: float, until: float, limit: int = 2000,
                      camera: CameraName | None = None) -> list[SegmentRecord]: ...

    def segment_path(self, seg_id: str) -> Path | None: ...


@dataclass(frozen=True)
class CameraFeed:
    """One running camera as the UI shows it: its live stream, its counters, where its pictures come from (the
    source's description, secrets masked) and the frame rate it is configured for."""

    hub: Stream
    stats: StatsReader
    source: Callable[[], str] = lambda: ""
    fps: float | None = None


@dataclass
class WebContext:
    """Everything the UI reads or controls; callables keep the web layer ignorant of the wiring.

    `cameras` holds every running camera by name, in the config's order; `hub` and `stats` are the first one's
    (what the single-camera routes and pages show). Left empty, it is that one camera, named by camera.id."""

    get_config: Callable[[], AppConfig]
    control: Control  # every change (arming, config, model switch) goes through its typed commands
    state: StateReader
    hub: Stream
    stats: StatsReader
    data_dir: Path  # users file, secret key, TLS certificate, uploaded models
    config_path: Path | None = None
    store: EventStoreLike | None = None
    mqtt_status: Callable[[], dict[str, Any]] | None = None
    log_tail: Callable[[int], list[str]] | None = None
    model_name: Callable[[], str] | None = None  # the model detecting now (after a switch or a rollback)
    health: Callable[[], HealthReport] | None = None  # camapp.healthcheck.HealthMonitor.report
    urls: Callable[[], list[str]] | None = None  # where other devices open the UI (camapp.web.addresses.ui_urls)
    cameras: Mapping[str, CameraFeed] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.cameras:
            cfg = self.get_config()
            self.cameras = {next(iter(cfg.cameras), cfg.camera.id): CameraFeed(self.hub, self.stats)}
