"""Config for continuous H.264 recording (segments) that event clips are cut from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from camapp.config.base import Section

RecordingMode = Literal["off", "events", "continuous"]
Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"]


class RecordingConfig(Section):
    """What is recorded: short H.264 segments, encoded once per frame (or the camera's own H.264 stored as is)."""

    mode: RecordingMode = Field(
        "events",
        description="off: no video; events: keep segments only for the pre-roll window and the events that need "
        "them (the default on an SD card); continuous: keep every segment for recording.retain_days.",
    )
    segment_s: float = Field(4.0, ge=1, le=60, description="Length of one segment file in seconds (cut at a keyframe).")
    keyframe_s: float = Field(
        1.0, ge=0.2, le=10, description="Seconds between keyframes when camapp encodes: clips start at a keyframe."
    )
    retain_days: float = Field(
        1.0, gt=0, le=3650, description="Continuous mode: delete segments older than this (storage quotas apply too)."
    )
    encoder: Literal["auto", "libx264", "h264_v4l2m2m"] = Field(
        "auto", description="H.264 encoder: auto uses the Raspberry Pi's hardware encoder (h264_v4l2m2m) when it "
        "works, else software libx264."
    )
    preset: Preset = Field("veryfast", description="libx264 speed preset: faster presets cost less CPU, more disk.")
    crf: int = Field(26, ge=10, le=40, description="libx264 quality (lower is better and bigger).")
    bitrate_kbps: int = Field(2000, ge=100, le=50_000, description="Target bitrate of the hardware encoder.")
    passthrough: bool = Field(
        True, description="Store the camera's own H.264 (RTSP, picamera2) without re-encoding when it delivers it."
    )
    queue_s: float = Field(
        2.0, ge=0.2, le=30, description="Frames waiting for the encoder, in seconds; beyond it frames are dropped "
        "(and counted) so recording never stalls the pipeline."
    )
