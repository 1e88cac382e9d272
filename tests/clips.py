"""Short H.264 clips cut from the demo video, for a second (or third) camera's view."""

from __future__ import annotations

from pathlib import Path

import av


def cut(video: Path, out: Path, frames: int, *, start: int = 0, mirror: bool = False, half: bool = False) -> Path:
    """Frames start..start+frames of `video` as an H.264 MP4 at 10 fps; `mirror` flips it left to right and `half`
    halves its size, so two cameras' pictures (and their events) really differ."""
    with av.open(str(video)) as inp, av.open(str(out), "w") as sink:
        stream = sink.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        for i, frame in enumerate(inp.decode(video=0)):
            if i < start:
                continue
            if i >= start + frames:
                break
            if half:
                frame = frame.reformat(width=frame.width // 2, height=frame.height // 2)
            image = frame.to_ndarray(format="bgr24")
            if mirror:
                image = image[:, ::-1].copy()
            if i == start:
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
            picture = av.VideoFrame.from_ndarray(image, format="bgr24")
            picture.pts = i - start
            sink.mux(stream.encode(picture))
        sink.mux(stream.encode())
    return out
