"""Config for the local web UI and stream (owned by the web work; extend here)."""

from __future__ import annotations

from pydantic import Field

from camapp.config.base import Section


class WebConfig(Section):
    """HTTP server and MJPEG stream."""

    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="HTTP port.")
    stream_fps: float = Field(10.0, gt=0, le=60, description="Highest frame rate sent to viewers.")
    stream_width: int = Field(960, ge=160, le=3840, description="Width of the streamed JPEG (height keeps aspect).")
    jpeg_quality: int = Field(75, ge=10, le=100, description="JPEG quality of the stream.")
