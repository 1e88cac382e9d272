"""Check an image from outside before decoding it: format, header dimensions, decoded size and completeness.

A 72 KB JPEG whose header claims 32000x32000 pixels makes OpenCV allocate ~3 GB (an out-of-memory kill on a
Pi), and one claiming 65500x65500 raises cv2.error. The header says how big the decoded image will be, so the
size is checked there, before a byte is decoded. Only formats whose header we read are accepted (JPEG, PNG, BMP,
WebP, binary PNM); a truncated file is refused rather than decoded into a half-grey picture.
"""

from __future__ import annotations

import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camapp.errors import InputError
from camapp.types import Image

MAX_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000  # an 8K frame is 33 MP; decoded as BGR this is at most 120 MB
FORMATS = "JPEG, PNG, BMP, WebP, PPM/PGM"
MAX_JPEG_SEGMENTS = 1000  # real files have a few dozen; bounds the header walk of a crafted one


class ImageError(InputError):
    """An image file is not one we will decode: unknown format, too large, truncated or corrupt."""


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _jpeg(data: bytes) -> ImageHeader:
    """Walk the marker segments to the first SOFn, which holds the frame size; require an EOI after the scan."""
    pos, size = 2, None
    for _ in range(MAX_JPEG_SEGMENTS):
        if pos + 4 > len(data):
            break
        if data[pos] != 0xFF:
            raise ImageError("JPEG: corrupt marker structure")
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD7:  # fill byte, markers without a length
            pos += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows, up to the EOI marker
            if size is None:
                raise ImageError("JPEG: no frame header (SOF) before the image data")
            if data.rfind(b"\xff\xd9", pos) < 0:
                raise ImageError("JPEG: truncated (no end-of-image marker)")
            return ImageHeader("JPEG", *size)
        pos += 2 + length
    else:
        raise ImageError(f"JPEG: more than {MAX_JPEG_SEGMENTS} segments before the image data")
    raise ImageError("JPEG: truncated before the image data")


def _png(data: bytes) -> ImageHeader:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageError("PNG: truncated or corrupt header (no IHDR)")
    width, height = struct.unpack(">II", data[16:24])
    if b"IEND" not in data[-32:]:
        raise ImageError("PNG: truncated (no IEND chunk at the end)")
    return ImageHeader("PNG", width, height)


def _bmp(data: bytes) -> ImageHeader:
    if len(data) < 30:
        raise ImageError("BMP: truncated header")
    offset = struct.unpack("<I", data[10:14])[0]
    width, height = struct.unpack("<ii", data[18:26])
    bits = struct.unpack("<H", data[28:30])[0]
    width, height = abs(width), abs(height)
    row = ((width * bits + 31) // 32) * 4
    compression = struct.unpack("<I", data[30:34])[0] if len(data) >= 34 else 0
    if compression == 0 and offset + row * height > len(data):
        raise ImageError("BMP: truncated (fewer pixel bytes than the header declares)")
    return ImageHeader("BMP", width, height)


def _webp(data: bytes) -> ImageHeader:
    if len(data) < 30:
        raise ImageError("WebP: truncated header")
    if struct.unpack("<I", data[4:8])[0] + 8 > len(data):
        raise ImageError("WebP: truncated (shorter than its RIFF size)")
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    elif chunk == b"VP8 ":
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", data[26:30]))
    else:
        raise ImageError("WebP: unknown chunk")
    return ImageHeader("WebP", width, height)


def _pnm(data: bytes) -> ImageHeader:
    fields: list[bytes] = []
    pos = 2
    while len(fields) < 3 and pos < min(len(data), 4096):
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.find(b"\n", pos) + 1 or len(data)
            continue
        end = pos
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if len(fields) < 3 or not all(f.isdigit() for f in fields):
        raise ImageError("PNM: corrupt header")
    width, height, maxval = (int(f) for f in fields)
    channels = 3 if data[1:2] == b"6" else 1
    if len(data) - pos - 1 < width * height * channels * (2 if maxval > 255 else 1):
        raise ImageError("PNM: truncated (fewer pixel bytes than the header declares)")
    return ImageHeader("PNM", width, height)


def _parser(head: bytes) -> Callable[[bytes], ImageHeader] | None:
    """The header reader for the format these first bytes announce, None for anything else."""
    if head[:3] == b"\xff\xd8\xff":
        return _jpeg
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _png
    if head[:2] == b"BM":
        return _bmp
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp
    if head[:2] in (b"P5", b"P6"):
        return _pnm
    return None


def read_header(data: bytes) -> ImageHeader:
    """Format and size from the header alone; ImageError for another format or a truncated file."""
    parse = _parser(data)
    if parse is None:
        raise ImageError(f"not an image format camapp reads (supported: {FORMATS})")
    return parse(data)


def check_header(data: bytes) -> ImageHeader:
    """The header, after checking that decoding it stays within MAX_BYTES and MAX_PIXELS."""
    if len(data) > MAX_BYTES:
        raise ImageError(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    header = read_header(data)
    if header.width < 1 or header.height < 1:
        raise ImageError(f"{header.format}: header claims an empty {header.width}x{header.height} image")
    if header.pixels > MAX_PIXELS:
        raise ImageError(f"{header.format}: header claims {header.width}x{header.height} pixels "
                         f"({header.pixels / 1e6:.0f} MP); at most {MAX_PIXELS / 1e6:.0f} MP are decoded")
    return header


def decode(data: bytes) -> Image:
    """A BGR image from encoded bytes, checked before decoding; ImageError says what is wrong."""
    import cv2

    header = check_header(data)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{header.format}: corrupt image data (the decoder gave up)")
    if image.shape[:2] != (header.height, header.width):  # the header lied: never trust the decode either
        raise ImageError(f"{header.format}: decoded {image.shape[1]}x{image.shape[0]}, header said "
                         f"{header.width}x{header.height}")
    return image  # type: ignore[return-value]


def read_image(path: str | Path) -> Image:
    """Decode an image file (see decode); ImageError names the file."""
    p = Path(path)
    try:
        if not stat.S_ISREG(p.stat().st_mode):  # opening a FIFO would wait for a writer forever
            raise ImageError(f"{p}: not a regular file")
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise ImageError(f"{p}: cannot read image: {err.strerror or err}") from None
    try:
        return decode(data)
    except ImageError as err:
        raise ImageError(f"{p}: {err}") from None


def check_file(path: Path) -> ImageHeader | None:
    """For a file that may be a still image (a camera or replay file): its checked header, None when it is not an
    image (a video) or cannot be read (the caller says so in its own words)."""
    try:
        with path.open("rb") as f:
            if _parser(f.read(16)) is None:
                return None
            f.seek(0)
            data = f.read(MAX_BYTES + 1)
    except OSError:
        return None
    try:
        return check_header(data)
    except ImageError as err:
        raise ImageError(f"{path}: {err}") from None
