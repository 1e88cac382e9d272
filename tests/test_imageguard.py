"""The image guard: real images of every accepted format decode; crafted ones (drill 5 of issue 13) are refused
from their header, before decoding, fast and in little memory, by `camapp detect`, `camapp replay` and a camera
file alike.
"""

from __future__ import annotations

import os
import re
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from measured import run_camapp

from camapp.imageguard import MAX_PIXELS, ImageError, check_header, decode, read_header, read_image


def _noise(w: int, h: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _encoded(ext: str, w: int = 64, h: int = 48) -> bytes:
    img = _noise(w, h)
    ok, buf = cv2.imencode(ext, img[:, :, 0] if ext == ".pgm" else img)
    assert ok
    return buf.tobytes()


def _jpeg_claiming(w: int, h: int, quality: int = 95, size: int = 170) -> bytes:
    """A real JPEG whose frame header (SOF0) is rewritten to claim w x h pixels."""
    ok, buf = cv2.imencode(".jpg", _noise(size, size), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    data = bytearray(buf.tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb(side: int = 16000) -> bytes:
    """A valid grey PNG of side x side zero pixels: ~250 KB on disk, 256 MP (768 MB as BGR) decoded."""
    z = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + pixels
    body = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp", ".ppm", ".pgm"])
def test_every_accepted_format_reads_its_size_from_the_header(ext: str) -> None:
    data = _encoded(ext, 64, 48)
    header = read_header(data)
    assert (header.width, header.height) == (64, 48)
    assert decode(data).shape == (48, 64, 3)


def test_real_photos_decode_like_opencv(media_dir: Path) -> None:
    for name in ("messi5.jpg", "basketball1.png"):
        data = (media_dir / name).read_bytes()
        expected = cv2.imread(str(media_dir / name), cv2.IMREAD_COLOR)
        assert np.array_equal(decode(data), expected)


def test_a_fifo_or_directory_is_refused_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(ImageError, match=r"pipe\.jpg: not a regular file"):
        read_image(tmp_path / "pipe.jpg")
    with pytest.raises(ImageError, match="not a regular file"):
        read_image(tmp_path)
    with pytest.raises(ImageError, match="cannot read image: No such file"):
        read_image(tmp_path / "gone.jpg")


def test_lossless_webp_and_a_large_legal_image() -> None:
    ok, buf = cv2.imencode(".webp", _noise(300, 200), [cv2.IMWRITE_WEBP_QUALITY, 101])  # >100: lossless VP8L
    assert ok and read_header(buf.tobytes()).width == 300
    big = _encoded(".jpg", 4000, 3000)  # 12 MP: a phone photo is fine
    assert check_header(big).pixels == 12_000_000 < MAX_PIXELS


CRAFTED: list[tuple[str, Callable[[], bytes], str]] = [
    ("jpeg-65500", lambda: _jpeg_claiming(65500, 65500), r"JPEG: header claims 65500x65500 pixels \(4290 MP\)"),
    ("jpeg-32000", lambda: _jpeg_claiming(32000, 32000), r"JPEG: header claims 32000x32000 pixels \(1024 MP\)"),
    ("jpeg-zero", lambda: _jpeg_claiming(0, 100), r"JPEG: header claims an empty 0x100 image"),
    ("png-bomb", _png_bomb, r"PNG: header claims 16000x16000 pixels"),
    ("jpeg-truncated", lambda: _encoded(".jpg", 320, 240)[:-400], r"JPEG: truncated \(no end-of-image marker\)"),
    ("jpeg-header-only", lambda: _encoded(".jpg")[:40], r"JPEG: truncated before the image data"),
    ("png-truncated", lambda: _encoded(".png", 320, 240)[:-500], r"PNG: truncated \(no IEND"),
    ("png-header-only", lambda: _encoded(".png")[:20], r"PNG: truncated or corrupt header"),
    ("bmp-truncated", lambda: _encoded(".bmp", 320, 240)[:-1000], r"BMP: truncated"),
    ("webp-truncated", lambda: _encoded(".webp", 320, 240)[:-100], r"WebP: truncated"),
    ("ppm-truncated", lambda: _encoded(".ppm", 320, 240)[:-100], r"PNM: truncated"),
    ("empty", lambda: b"", r"not an image format camapp reads"),
    ("text", lambda: b"hello\n", r"not an image format camapp reads"),
    ("gif", lambda: b"GIF89a" + b"\xff\xff\xff\xff" + b"\0" * 100, r"not an image format camapp reads"),
    ("corrupt-scan", lambda: _encoded(".png")[:60] + b"\0" * 400 + _encoded(".png")[-12:],
     r"PNG: corrupt image data"),
]


@pytest.mark.parametrize(("make", "pattern"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_crafted_image_is_refused_before_decoding(make: Callable[[], bytes], pattern: str) -> None:
    data = make()
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match=pattern):
        decode(data)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.fault
@pytest.mark.parametrize(("make", "pattern"), [c[1:] for c in CRAFTED[:5]], ids=[c[0] for c in CRAFTED[:5]])
def test_detect_refuses_crafted_image(tmp_path: Path, make: Callable[[], bytes], pattern: str) -> None:
    img = tmp_path / "crafted.jpg"
    img.write_bytes(make())
    got = run_camapp("detect", str(img), deadline_s=20.0)
    assert got.returncode == 2 and "Traceback" not in got.stderr, got.stderr[-2000:]
    assert f"{img}: " in got.stderr and re.search(pattern, got.stderr), got.stderr
    # The refusal itself takes microseconds (test above); this bounds the whole command, interpreter start and
    # OpenCV import included, in CPU time so that a busy test machine does not fail it.
    assert got.cpu_s < 1.0, f"{got.cpu_s:.2f} s of CPU"
    assert got.peak_rss_mb < 200, f"peak RSS {got.peak_rss_mb:.0f} MB"


@pytest.mark.fault
def test_a_crafted_camera_file_is_a_config_error(tmp_path: Path) -> None:
    img = tmp_path / "camera.jpg"
    img.write_bytes(_jpeg_claiming(32000, 32000))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"camera: {{source: file, path: {img}}}\nweb: {{port: 0}}\n")
    got = run_camapp("run", "-c", str(cfg), deadline_s=30.0)
    assert got.returncode == 2, got.stderr[-2000:]
    assert "camera.path" in got.stderr and "32000x32000" in got.stderr and "Traceback" not in got.stderr
    assert got.peak_rss_mb < 200
    got = run_camapp("replay", str(img), deadline_s=30.0)
    assert got.returncode == 2 and "32000x32000" in got.stderr and "Traceback" not in got.stderr
