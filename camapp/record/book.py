"""Which segments are still needed and which event clips can be cut: pure bookkeeping, no files, no threads."""

from __future__ import annotations

from dataclasses import dataclass

from camapp.record.segments import ClipCut

# segments.keep: why a segment outlives the pre-roll window.
KEEP_NONE = 0  # events-only mode: dropped once no event needs it
KEEP_CONTINUOUS = 1  # continuous mode: kept for recording.retain_days
KEEP_HELD = 2  # a rule's `clip` action asked to keep the recording around an event: kept for storage.retain_days

# Events are confirmed a little after their object first appeared (their start); keep this much more than the
# pre-roll so an event confirmed late still finds its pre-roll on disk.
CONFIRM_MARGIN_S = 10.0


@dataclass
class SegRef:
    relpath: str
    start: float
    end: float
    keep: int = KEEP_NONE


@dataclass
class Pending:
    """An event whose clip has not been cut yet."""

    event_id: str
    start: float
    end: float | None = None
    held: bool = False


@dataclass(frozen=True)
class ClipJob:
    event_id: str
    cut: ClipCut
    segments: tuple[SegRef, ...]
    held: bool


class SegmentBook:
    """Segments on disk and events waiting for clips; the store calls it under its own lock."""

    def __init__(self, *, continuous: bool, pre_s: float, post_s: float, max_s: float) -> None:
        self.continuous, self.pre_s, self.post_s, self.max_s = continuous, pre_s, post_s, max_s
        self.segments: list[SegRef] = []
        self.pending: dict[str, Pending] = {}
        self.recorded_until = 0.0
        self._busy: dict[str, int] = {}  # segments a clip job is still cutting from: never expendable

    def window(self, p: Pending) -> ClipCut:
        """Pre-roll to post-roll, at most clip_max_s long."""
        start = p.start - self.pre_s
        end = (p.end if p.end is not None else float("inf")) + self.post_s
        return ClipCut(start=start, latest_start=p.start, end=min(end, start + self.max_s))

    def add(self, seg: SegRef) -> None:
        """A segment finished (or was found on disk at start)."""
        if self.continuous:
            seg.keep = max(seg.keep, KEEP_CONTINUOUS)
        self.segments.append(seg)
        self.segments.sort(key=lambda s: s.start)
        self.recorded_until = max(self.recorded_until, seg.end)

    def forget(self, relpaths: set[str]) -> None:
        """Segments deleted elsewhere (retention, quota)."""
        self.segments = [s for s in self.segments if s.relpath not in relpaths]

    def started(self, event_id: str, start: float) -> None:
        self.pending.setdefault(event_id, Pending(event_id, start))

    def ended(self, event_id: str, end: float) -> None:
        pending = self.pending.get(event_id)
        if pending is not None:
            pending.end = end

    def hold(self, event_id: str) -> bool:
        """Keep the recording around this event (rule action `clip`); False if its clip was already cut."""
        pending = self.pending.get(event_id)
        if pending is None:
            return False
        pending.held = True
        return True

    def _covering(self, cut: ClipCut) -> tuple[SegRef, ...]:
        return tuple(s for s in self.segments if s.end > cut.start and s.start < cut.end)

    def ready(self, closing: bool = False) -> list[ClipJob]:
        """Clips whose whole window is recorded (or everything, when closing); they leave the pending list."""
        jobs = []
        for event_id, pending in list(self.pending.items()):
            cut = self.window(pending)
            if cut.end <= self.recorded_until or closing:
                del self.pending[event_id]
                if closing:
                    cut = ClipCut(cut.start, cut.latest_start, min(cut.end, self.recorded_until))
                covering = self._covering(cut)
                for seg in covering:
                    self._busy[seg.relpath] = self._busy.get(seg.relpath, 0) + 1
                if pending.held:
                    for seg in covering:
                        seg.keep = max(seg.keep, KEEP_HELD)
                jobs.append(ClipJob(event_id, cut, covering, pending.held))
        return jobs

    def done(self, job: ClipJob) -> None:
        """The job's clip is cut (or given up): its segments may go when nothing else needs them."""
        for seg in job.segments:
            left = self._busy.pop(seg.relpath, 0) - 1
            if left > 0:
                self._busy[seg.relpath] = left

    def needed(self) -> set[str]:
        """Segments a clip job is cutting from, or that a waiting event's clip window (or a late-confirmed event's
        pre-roll) covers."""
        horizon = self.recorded_until - self.pre_s - CONFIRM_MARGIN_S
        windows = [self.window(p) for p in self.pending.values()]
        return {s.relpath for s in self.segments if s.relpath in self._busy or s.end >= horizon
                or any(s.end > w.start and s.start < w.end for w in windows)}

    def expendable(self) -> list[SegRef]:
        """Events-only mode: segments older than the pre-roll window that no waiting clip needs; forgotten here."""
        if self.continuous:
            return []
        horizon = self.recorded_until - self.pre_s - CONFIRM_MARGIN_S
        windows = [self.window(p) for p in self.pending.values()]
        doomed = [s for s in self.segments if s.keep == KEEP_NONE and s.end < horizon
                  and s.relpath not in self._busy and not any(s.end > w.start and s.start < w.end for w in windows)]
        self.forget({s.relpath for s in doomed})
        return doomed
