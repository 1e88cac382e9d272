"""Frame capture: real video files, a real HTTP MJPEG stream on 127.0.0.1, reconnects, GStreamer and picamera2.

Not run here (no hardware, no libraries): a USB/V4L2 camera, a real RTSP camera, a GStreamer-enabled OpenCV with
a Jetson CSI camera, and picamera2/libcamera on a Raspberry Pi. The picamera2 adapter is exercised against a fake
Picamera2 object that implements the calls the adapter makes and the array layouts picamera2 documents.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from camapp.capture import CaptureStoppedError, FrameSource
from camapp.capture.factory import open_source
from camapp.capture.file import FileSource
from camapp.capture.gstreamer import GStreamerSource, has_gstreamer, jetson_csi_pipeline
from camapp.capture.opencv import OpenCVSource, redact_url
from camapp.capture.picam import Picamera2Source, lores_size
from camapp.capture.reconnect import ReconnectingSource
from camapp.config import camera_config
from camapp.errors import CaptureEndedError, CaptureError, ConfigError

SHADES = (0, 60, 120, 180, 240)  # one grey level per frame of the short clip, far apart to survive MJPEG


def write_clip(path: Path, fps: float = 10.0, shades: tuple[int, ...] = SHADES) -> Path:
    """A real, short MJPEG AVI whose frame i is a flat grey of shades[i]."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (96, 64))
    assert writer.isOpened(), "OpenCV cannot write MJPEG AVI here"
    for shade in shades:
        writer.write(np.full((64, 96, 3), shade, np.uint8))
    writer.release()
    return path


def shade(image: np.ndarray) -> int:
    """The grey level a frame of write_clip was made with (nearest of SHADES)."""
    return min(SHADES, key=lambda s: abs(float(image.mean()) - s))


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.avi")


class StatusLog:
    """Collects on_status calls as a ReconnectingSource makes them, for asserting on their order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.changed = threading.Event()

    def __call__(self, status: str, error: str | None) -> None:
        self.calls.append((status, error))
        self.changed.set()

    @property
    def statuses(self) -> list[str]:
        return [s for s, _ in self.calls]


# --- files ----------------------------------------------------------------------------------------------------


def test_file_source_reads_demo_video_as_bgr_with_media_timestamps(demo_video: Path) -> None:
    with FileSource(demo_video, loop=False, realtime=False) as src:
        frames = [src.read() for _ in range(5)]
    assert src.fps == pytest.approx(10.0)
    for i, frame in enumerate(frames):
        assert frame.image.shape == (576, 768, 3) and frame.image.dtype == np.uint8
        assert frame.index == i
        assert frame.timestamp == pytest.approx(frames[0].timestamp + i / src.fps, abs=1e-6)
    # The very bytes OpenCV's own reader gives (the same FFmpeg decoder and BGR conversion).
    cap = cv2.VideoCapture(str(demo_video))
    ok, first = cap.read()
    cap.release()
    assert ok and np.array_equal(first, frames[0].image)


def test_file_source_loops_with_increasing_index(demo_video: Path) -> None:
    cap = cv2.VideoCapture(str(demo_video))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    with FileSource(demo_video, loop=True, realtime=False) as src:
        frames = [src.read() for _ in range(count + 2)]
    assert [f.index for f in frames] == list(range(count + 2))
    assert np.array_equal(frames[count].image, frames[0].image)
    assert np.array_equal(frames[count + 1].image, frames[1].image)
    assert frames[count].timestamp > frames[count - 1].timestamp


@pytest.mark.parametrize("media", ["demo", "clip"])
def test_file_source_without_loop_ends(media: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue("demo_video" if media == "demo" else "clip")
    cap = cv2.VideoCapture(str(path))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    read = 0
    with FileSource(path, loop=False, realtime=False) as src, pytest.raises(CaptureEndedError, match="end of"):
        while True:
            src.read()
            read += 1
    assert read == count


def test_short_clip_frames_are_the_ones_written(clip: Path) -> None:
    with FileSource(clip, loop=True, realtime=False) as src:
        shades = [shade(src.read().image) for _ in range(2 * len(SHADES))]
    assert shades == list(SHADES) * 2
    with pytest.raises(CaptureError, match="closed"):
        src.read()


def write_rotated(path: Path, degrees: int) -> np.ndarray:
    """An H.264 MP4 stored on its side as phones store portrait video (a display matrix turning it by `degrees`
    counter-clockwise); returns the picture as stored: red along its top edge, green down its left edge."""
    import av

    image = np.zeros((64, 96, 3), np.uint8)
    image[:8, :, 2] = 255
    image[:, :8, 1] = 255
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.set_display_rotation(degrees)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return image


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_file_source_turns_rotated_video_upright_as_opencv_does(tmp_path: Path, degrees: int) -> None:
    path = tmp_path / f"phone{degrees}.mp4"
    write_rotated(path, degrees)
    with FileSource(path, loop=False, realtime=False) as src:
        image = src.read().image
    assert image.shape == ((64, 96, 3) if degrees == 180 else (96, 64, 3))
    cap = cv2.VideoCapture(str(path))  # OpenCV's reader applies the display matrix itself
    ok, upright = cap.read()
    cap.release()
    assert ok and np.array_equal(image, upright)
    red_edge = {90: image[:, :4], -90: image[:, -4:], 180: image[-4:]}[degrees]
    assert float(red_edge[..., 2].mean()) > 200  # the stored top edge is where the turn puts it


def test_files_are_read_without_opencv_video_io(monkeypatch: pytest.MonkeyPatch, demo_video: Path) -> None:
    """Files go through PyAV only, so OpenCV's own FFmpeg copy is never loaded into use (memory)."""
    from camapp.capture.factory import frame_rate

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("cv2.VideoCapture used for a file")

    monkeypatch.setattr(cv2, "VideoCapture", refuse)
    assert frame_rate(camera_config(source="file", path=demo_video)) == pytest.approx(10.0)
    with open_source(camera_config(source="file", path=demo_video, loop=True, realtime=False),
                     threading.Event()) as src:
        assert src.read().image.shape == (576, 768, 3)


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.avi", None), ("notes.avi", b"this is not a video"), ("empty.mp4", b"")],
)
def test_file_source_bad_file_names_the_path(tmp_path: Path, name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CaptureError, match=name):
        FileSource(path)


def test_realtime_file_is_paced_and_stop_interrupts_the_wait(tmp_path: Path) -> None:
    slow = write_clip(tmp_path / "slow.avi", fps=0.25)  # one frame every 4 s
    stop = threading.Event()
    src = FileSource(slow, realtime=True, stop_event=stop)
    assert src.fps == pytest.approx(0.25)
    src.read()  # the first frame is due at once
    threading.Timer(0.1, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(CaptureStoppedError):
        src.read()
    # Interrupted well before the 4 s the pace would otherwise wait.
    assert time.monotonic() - t0 < 3.0
    src.close()


def test_realtime_file_timestamps_stay_on_the_wall_clock_after_a_stall(tmp_path: Path) -> None:
    """A consumer that stalls for 0.5 s (ten frames at 20 fps): the schedule restarts instead of bursting, and the
    frames after the stall are stamped when they come, as a camera's would be, not 0.5 s in the past."""
    clip = write_clip(tmp_path / "fast.avi", fps=20.0)
    with FileSource(clip, loop=True, realtime=True) as src:
        src.read()
        time.sleep(0.5)  # the stall under test (a consumer busy elsewhere), not a wait for a condition
        stamps = [(src.read().timestamp, time.time()) for _ in range(4)]
    lags = [came - stamp for stamp, came in stamps]
    # The frame the stall held up is stamped a period early, then each as it comes; before, all of them 0.4 s early.
    # Bounds leave room for a loaded machine's scheduling.
    assert all(-0.01 < lag < 0.2 for lag in lags), lags


# --- reconnecting -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["vanished", "emptied"])
def test_reconnect_reopens_a_file_that_vanished_and_came_back(clip: Path, fault: str) -> None:
    """Mid-run a file that goes missing or empty (replaced in place) is retried, unlike at start-up."""
    stop = threading.Event()
    log = StatusLog()
    aside = clip.with_suffix(".moved")
    src = ReconnectingSource(
        lambda: FileSource(clip, loop=True, realtime=False, stop_event=stop),
        min_backoff_s=0.05,
        max_backoff_s=0.2,
        stop_event=stop,
        on_status=log,
    )
    first = [src.read() for _ in SHADES]
    clip.rename(aside)  # at the end of this pass the loop reopens the file, which is now gone (or empty)
    if fault == "emptied":
        clip.write_bytes(b"")

    def put_back() -> None:
        while not stop.is_set() and "reconnecting" not in log.statuses:
            log.changed.wait(0.05)
            log.changed.clear()
        aside.replace(clip)

    restorer = threading.Thread(target=put_back)
    restorer.start()
    after = src.read()
    restorer.join(5)
    src.close()
    assert log.statuses[0] == "open"
    assert "reconnecting" in log.statuses
    failure = log.calls[log.statuses.index("reconnecting")][1]
    assert failure is not None and str(clip) in failure
    assert log.statuses[-2:] == ["open", "closed"]
    assert [f.index for f in [*first, after]] == list(range(len(SHADES) + 1))
    assert shade(after.image) == SHADES[0]


def test_generation_counts_restarts_of_the_stream(clip: Path) -> None:
    """Loops and reopenings each start a new generation, so the pipeline knows the frames do not continue."""
    stop = threading.Event()
    aside = clip.with_suffix(".moved")
    plug = {"open": lambda: clip.rename(aside), "reconnecting": lambda: aside.rename(clip)}

    def on_status(status: str, error: str | None) -> None:
        if status in plug:
            plug.pop(status)()  # unplugged once open; back when the failed reopen is reported

    src = ReconnectingSource(lambda: FileSource(clip, loop=True, realtime=False, stop_event=stop),
                             min_backoff_s=0.01, max_backoff_s=0.02, stop_event=stop, on_status=on_status)
    with src:
        generations = [(src.read().index, src.generation) for _ in range(3 * len(SHADES))]
    n = len(SHADES)
    starts = [index for (index, gen), (_, prev) in zip(generations[1:], generations[:-1], strict=True) if gen != prev]
    assert starts == [n, 2 * n]  # the reconnect after the first pass, the loop after the second
    assert [gen for _, gen in generations] == sorted(gen for _, gen in generations)
    assert plug == {}
    with FileSource(clip) as fresh:
        assert fresh.generation == 0


def test_reconnect_passes_on_the_end_of_a_finite_file(clip: Path) -> None:
    log = StatusLog()
    src = ReconnectingSource(lambda: FileSource(clip, loop=False, realtime=False), min_backoff_s=0.01, on_status=log)
    with pytest.raises(CaptureEndedError):
        for _ in range(len(SHADES) + 1):
            src.read()
    assert log.statuses == ["open", "closed"]


def test_stop_interrupts_the_backoff_promptly(tmp_path: Path) -> None:
    stop = threading.Event()
    log = StatusLog()
    missing = tmp_path / "never.avi"
    src = ReconnectingSource(
        lambda: FileSource(missing, stop_event=stop),
        min_backoff_s=60.0,
        max_backoff_s=60.0,
        stop_event=stop,
        on_status=log,
    )
    outcome: list[BaseException] = []

    def reader() -> None:
        try:
            src.read()
        except CaptureError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    assert log.changed.wait(10), "the failure was never reported"
    assert log.calls[0] == ("reconnecting", f"video file not found: {missing}")
    stop.set()
    thread.join(10)  # the backoff is 60 s: finishing at all shows the wait was interrupted
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], CaptureStoppedError)
    src.close()
    assert log.statuses == ["reconnecting", "closed"]


def test_backoff_doubles_up_to_the_maximum(tmp_path: Path) -> None:
    stop = threading.Event()
    attempts: list[float] = []

    def failing() -> FrameSource:
        attempts.append(time.monotonic())
        if len(attempts) >= 6:
            stop.set()
        return FileSource(tmp_path / "never.avi")

    src = ReconnectingSource(failing, min_backoff_s=0.02, max_backoff_s=0.08, stop_event=stop)
    with pytest.raises(CaptureStoppedError):
        src.read()
    gaps = np.diff(attempts)
    # Waits of 0.02, 0.04, 0.08, 0.08, 0.08: each at least its backoff (stop_event.wait never returns early).
    assert list(gaps >= np.array([0.02, 0.04, 0.08, 0.08, 0.08]) * 0.95) == [True] * 5


# --- HTTP MJPEG over 127.0.0.1 ----------------------------------------------------------------------------------


class MJPEGServer:
    """A tiny multipart MJPEG server that hangs up after `per_connection` frames, like a flaky IP camera."""

    def __init__(self, per_connection: int) -> None:
        self.per_connection = per_connection
        self.connections = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                owner.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                for i in range(owner.per_connection):
                    _, jpg = cv2.imencode(".jpg", np.full((64, 96, 3), SHADES[i % len(SHADES)], np.uint8))
                    data = jpg.tobytes()
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                    try:
                        self.wfile.write(head.encode() + data + b"\r\n")
                        self.wfile.flush()
                    except OSError:
                        return
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def mjpeg_server() -> Iterator[MJPEGServer]:
    server = MJPEGServer(per_connection=4)
    yield server
    server.close()


def test_http_mjpeg_stream_recovers_after_the_server_hangs_up(mjpeg_server: MJPEGServer) -> None:
    stop = threading.Event()
    log = StatusLog()
    cfg = camera_config(source="rtsp", url=mjpeg_server.url, reconnect_min_s=0.05, reconnect_max_s=0.2)
    with open_source(cfg, stop, on_status=log) as src:
        frames = [src.read() for _ in range(10)]
    assert mjpeg_server.connections >= 3
    assert [f.index for f in frames] == list(range(10))
    assert all(f.image.shape == (64, 96, 3) for f in frames)
    assert shade(frames[0].image) == SHADES[0]
    assert log.statuses[0] == "open"
    assert log.statuses.count("reconnecting") >= 2
    for i, status in enumerate(log.statuses[:-1]):
        if status == "reconnecting":
            assert log.statuses[i + 1] in ("open", "reconnecting")
    assert "no frame" in (log.calls[log.statuses.index("reconnecting")][1] or "")
    assert "127.0.0.1" in src.description


def test_unreachable_stream_is_a_capture_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(CaptureError, match=f"127.0.0.1:{port}"):
            OpenCVSource(f"http://127.0.0.1:{port}/stream.mjpg")


@pytest.mark.parametrize(
    ("target", "message"),
    [("/dev/video-camapp-missing", "no such device"), ("camera", "neither a V4L2 device")],
)
def test_bad_device_is_a_capture_error(target: str, message: str) -> None:
    with pytest.raises(CaptureError, match=message):
        OpenCVSource(target)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:secret@10.0.0.5:554/stream1", "rtsp://admin:********@10.0.0.5:554/stream1"),
        ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("http://user:pw@cam.local/video.mjpg", "http://user:********@cam.local/video.mjpg"),
        ("rtsp://tok3n@cam.local/live", "rtsp://********@cam.local/live"),
        ("http://cam.local/snap.jpg?user=admin&password=hunter22", "http://cam.local/snap.jpg?user=admin&password=********"),
    ],
)
def test_stream_passwords_never_reach_descriptions(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# --- GStreamer / Jetson ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        ((0, 1280, 720, 30.0, 0), ("sensor-id=0", "width=(int)1280, height=(int)720", "30/1", "flip-method=0")),
        ((1, 1920, 1080, 29.97, 2), ("sensor-id=1", "framerate=(fraction)2997/100", "flip-method=2")),
        ((0, 1280, 720, 10.0, 1), ("flip-method=1 ! video/x-raw, width=(int)720, height=(int)1280",)),
    ],
)
def test_jetson_csi_pipeline(args: tuple[int, int, int, float, int], expect: tuple[str, ...]) -> None:
    pipeline = jetson_csi_pipeline(*args)
    elements = [e.strip().split(" ")[0].split(",")[0] for e in pipeline.split("!")]
    assert elements == [
        "nvarguscamerasrc",
        "video/x-raw(memory:NVMM)",
        "nvvidconv",
        "video/x-raw",
        "videoconvert",
        "video/x-raw",
        "appsink",
    ]
    assert "format=(string)BGRx" in pipeline and "format=(string)BGR ! appsink" in pipeline
    assert pipeline.endswith("appsink drop=1 max-buffers=1")
    for part in expect:
        assert part in pipeline


@pytest.mark.parametrize("args", [(0, 1280, 720, 30.0, 8), (-1, 1280, 720, 30.0, 0), (0, 1280, 720, 0.0, 0)])
def test_jetson_csi_pipeline_rejects_bad_settings(args: tuple[int, int, int, float, int]) -> None:
    with pytest.raises(ValueError):
        jetson_csi_pipeline(*args)


def test_gstreamer_support_is_read_from_the_build_information() -> None:
    line = next(x for x in cv2.getBuildInformation().splitlines() if x.strip().startswith("GStreamer:"))
    assert has_gstreamer() == ("YES" in line.upper())


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer; the error path cannot happen")
@pytest.mark.parametrize("source", ["gstreamer", "jetson_csi"])
def test_opencv_without_gstreamer_gives_a_clear_error(source: str) -> None:
    with pytest.raises(CaptureError, match="without GStreamer support"):
        GStreamerSource(jetson_csi_pipeline())
    fields = {"pipeline": "videotestsrc ! videoconvert ! appsink"} if source == "gstreamer" else {}
    cfg = camera_config(source=source, **fields)
    with pytest.raises(ConfigError, match=f"camera.source '{source}'.*--system-site-packages"):
        open_source(cfg, threading.Event())


# --- picamera2 (fake Picamera2 object; libcamera cannot be installed here) ---------------------------------------


class FakePicamera2:
    """Implements the Picamera2 calls the adapter makes, returning arrays laid out as picamera2 documents them."""

    instances: list[FakePicamera2] = []

    def __init__(self, fail_after: int | None = None) -> None:
        self.fail_after = fail_after
        self.calls: list[str] = []
        self.config: dict[str, Any] = {}
        self.captured = 0
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("create_video_configuration")
        return {"kind": "video", **kwargs}

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append("configure")
        self.config = config

    def start(self) -> None:
        self.calls.append("start")

    def capture_arrays(self, names: list[str]) -> tuple[list[np.ndarray], dict[str, Any]]:
        if self.fail_after is not None and self.captured >= self.fail_after:
            raise RuntimeError("Camera frontend has timed out!")
        self.captured += 1
        arrays = [self._main() if name == "main" else self._lores() for name in names]
        return arrays, {"SensorTimestamp": 123}

    def _main(self) -> np.ndarray:
        w, h = self.config["main"]["size"]
        image = np.zeros((h, w, 3), np.uint8)
        image[..., 0] = 200  # RGB888 is [B, G, R] in memory: a blue picture has its first byte high
        image[0, 0] = (self.captured, 0, 0)
        return image

    def _lores(self) -> np.ndarray:
        w, h = self.config["lores"]["size"]
        stride = w + 64  # rows padded, as libcamera may do
        yuv = np.full((h * 3 // 2, stride), 128, np.uint8)  # U and V planes: neutral chroma
        yuv[:h, :w] = (np.arange(w) % 100).astype(np.uint8)[None, :]  # Y: a horizontal ramp below 128
        yuv[:h, w:] = 255  # padding that must not leak into Frame.lores
        return yuv

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def test_picamera2_source_configures_main_and_lores_streams() -> None:
    cam = FakePicamera2()
    src = Picamera2Source(1280, 720, lores_width=320, fps=15.0, factory=lambda: cam)
    assert cam.calls == ["create_video_configuration", "configure", "start"]
    assert cam.config["main"] == {"size": (1280, 720), "format": "RGB888"}
    assert cam.config["lores"] == {"size": (320, 180), "format": "YUV420"}
    assert cam.config["controls"] == {"FrameRate": 15.0}
    frames = [src.read() for _ in range(3)]
    assert [f.index for f in frames] == [0, 1, 2]
    for n, frame in enumerate(frames, start=1):
        assert frame.image.shape == (720, 1280, 3)
        assert tuple(frame.image[5, 5]) == (200, 0, 0)  # blue stays in channel 0: OpenCV's BGR, not swapped
        assert frame.image[0, 0, 0] == n
        assert frame.lores is not None and frame.lores.shape == (180, 320)
        assert np.array_equal(frame.lores[7], np.arange(320) % 100)  # the Y plane, without chroma or padding
    src.close()
    src.close()
    assert cam.calls[-2:] == ["stop", "close"] and cam.calls.count("close") == 1
    with pytest.raises(CaptureError, match="closed"):
        src.read()


@pytest.mark.parametrize(
    ("main", "lores_width", "expect"),
    [((1280, 720), 320, (320, 180)), ((640, 480), 320, (320, 240)), ((1920, 1080), 333, (332, 186))],
)
def test_lores_size_keeps_aspect_and_is_even(main: tuple[int, int], lores_width: int, expect: tuple[int, int]) -> None:
    assert lores_size(*main, lores_width) == expect


def test_picamera2_failure_mid_run_is_reconnected() -> None:
    FakePicamera2.instances.clear()
    log = StatusLog()
    src = ReconnectingSource(
        lambda: Picamera2Source(640, 480, factory=lambda: FakePicamera2(fail_after=2)),
        min_backoff_s=0.01,
        on_status=log,
    )
    frames = [src.read() for _ in range(5)]
    src.close()
    assert [f.index for f in frames] == list(range(5))
    assert len(FakePicamera2.instances) == 3
    assert all(cam.calls[-2:] == ["stop", "close"] for cam in FakePicamera2.instances)
    assert log.statuses == ["open", "reconnecting", "open", "reconnecting", "open", "closed"]
    assert "timed out" in (log.calls[1][1] or "")


def test_picamera2_start_failure_is_a_capture_error() -> None:
    class NoCamera(FakePicamera2):
        def configure(self, config: dict[str, Any]) -> None:
            raise IndexError("list index out of range")  # what picamera2 raises when no camera is attached

    cam = NoCamera()
    with pytest.raises(CaptureError, match="cannot start the Pi camera"):
        Picamera2Source(640, 480, factory=lambda: cam)
    assert cam.calls[-2:] == ["stop", "close"]


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed")
def test_missing_picamera2_says_how_to_install_it() -> None:
    with pytest.raises(CaptureError, match="apt install python3-picamera2"):
        Picamera2Source(640, 480)
    with pytest.raises(ConfigError, match=r"camera\.source 'picamera2'"):
        open_source(camera_config(source="picamera2"), threading.Event())


# --- factory and config ------------------------------------------------------------------------------------------


def test_open_source_file_without_loop_is_bare_and_ends(clip: Path) -> None:
    log = StatusLog()
    cfg = camera_config(source="file", path=clip, loop=False, realtime=False)
    with open_source(cfg, threading.Event(), on_status=log) as src:
        assert isinstance(src, FileSource)
        with pytest.raises(CaptureEndedError):
            for _ in range(len(SHADES) + 1):
                src.read()
    assert log.statuses == ["open"]


def test_open_source_looping_file_is_reconnecting(clip: Path) -> None:
    cfg = camera_config(source="file", path=clip, loop=True, realtime=False)
    with open_source(cfg, threading.Event()) as src:
        assert isinstance(src, ReconnectingSource)
        frames = [src.read() for _ in range(2 * len(SHADES))]
        assert src.fps == pytest.approx(10.0)
        assert str(clip) in src.description
    assert [shade(f.image) for f in frames] == list(SHADES) * 2


def test_open_source_missing_file_fails_at_once(tmp_path: Path) -> None:
    cfg = camera_config(source="file", path=tmp_path / "nope.avi")
    with pytest.raises(ConfigError, match=r"camera.path.*nope.avi"):
        open_source(cfg, threading.Event())


@pytest.mark.parametrize(
    ("fields", "ok"),
    [
        ({"source": "jetson_csi", "sensor_id": 1, "flip_method": 2}, True),
        ({"source": "jetson_csi", "flip_method": 8}, False),
        ({"source": "rtsp", "url": "rtsp://cam/stream"}, True),
        ({"source": "rtsp", "url": "cam/stream"}, False),
        ({"source": "gstreamer"}, False),
    ],
)
def test_camera_config_fields(fields: dict[str, Any], ok: bool) -> None:
    if ok:
        camera_config(**fields)
    else:
        with pytest.raises(ValueError):
            camera_config(**fields)
