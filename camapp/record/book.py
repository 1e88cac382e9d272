"""Which segments are still needed and which events' windows are fully recorded: pure bookkeeping, no files, no
threads. Each segment and event belongs to one recording run; an event's window only covers segments of its run."""

from __future__ import annotations

from dataclasses import dataclass

from camapp.record.segments import ClipCut

# segments.keep: why a segment outlives the pre-roll window.
KEEP_NONE = 0  # events-only mode: dropped once no event holds or needs it
KEEP_CONTINUOUS = 1  # continuous mode: kept for recording.retain_days (longer while an event holds it)
KEEP_HELD = 2  # schema 3 only (a rule's `clip` action): kept for storage.retain_days; now events hold segments

# Events are confirmed a little after their object first appeared (their start); keep this much more than the
# pre-roll so an event confirmed late still finds its pre-roll on disk.
CONFIRM_MARGIN_S = 10.0


@dataclass
class SegRef:
    relpath: str
    start: float
    end: float
    keep: int = KEEP_NONE
    run: int = 0


@dataclass
class Pending:
    """An event whose window is not fully recorded yet."""

    event_id: str
    start: float
    run: int = 0
    end: float | None = None
    held: bool = True  # False: only followed in case a rule's `clip` action asks to keep its recording


@dataclass(frozen=True)
class ClipJob:
    """An event whose window is recorded: it is to hold these segments (all of its run)."""

    event_id: str
    cut: ClipCut
    segments: tuple[SegRef, ...]
    held: bool
    run: int = 0


class SegmentBook:
    """Segments on disk and events waiting for clips; the store calls it under its own lock."""

    def __init__(self, *, continuous: bool, pre_s: float, post_s: float, max_s: float, run: int = 0) -> None:
        self.continuous, self.pre_s, self.post_s, self.max_s = continuous, pre_s, post_s, max_s
        self.run = run  # the run recording now; earlier runs (found on disk) get no more segments
        self.segments: list[SegRef] = []
        self.pending: dict[str, Pending] = {}
        self._until: dict[int, float] = {}  # end of the last segment of each run
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
        self.segments.sort(key=lambda s: (s.run, s.start))
        self._until[seg.run] = max(self._until.get(seg.run, 0.0), seg.end)

    @property
    def recorded_until(self) -> float:
        """End of the current run's last segment (0 before the first)."""
        return self._until.get(self.run, 0.0)

    def forget(self, relpaths: set[str]) -> None:
        """Segments deleted elsewhere (retention, quota)."""
        self.segments = [s for s in self.segments if s.relpath not in relpaths]

    def started(self, event_id: str, start: float, run: int = 0, held: bool = True) -> None:
        self.pending.setdefault(event_id, Pending(event_id, start, run, held=held))

    def ended(self, event_id: str, end: float) -> None:
        pending = self.pending.get(event_id)
        if pending is not None:
            pending.end = end

    def hold(self, event_id: str) -> bool:
        """Keep the recording around this event (rule action `clip`); False if its window is already done."""
        pending = self.pending.get(event_id)
        if pending is None:
            return False
        pending.held = True
        return True

    def _covering(self, cut: ClipCut, run: int) -> tuple[SegRef, ...]:
        return tuple(s for s in self.segments if s.run == run and s.end > cut.start and s.start < cut.end)

    def ready(self, closing: bool = False) -> list[ClipJob]:
        """Events whose whole window is recorded (or everything, when closing; an earlier run's events at once:
        that run records nothing more); they leave the pending list."""
        jobs = []
        for event_id, pending in list(self.pending.items()):
            cut = self.window(pending)
            until = self._until.get(pending.run, 0.0)
            final = closing or pending.run != self.run
            if cut.end <= until or final:
                del self.pending[event_id]
                if final:
                    cut = ClipCut(cut.start, cut.latest_start, min(cut.end, until))
                covering = self._covering(cut, pending.run)
                for seg in covering:
                    self._busy[seg.relpath] = self._busy.get(seg.relpath, 0) + 1
                jobs.append(ClipJob(event_id, cut, covering, pending.held, pending.run))
        return jobs

    def done(self, job: ClipJob) -> None:
        """The job's holds are written (or given up): its segments may go when nothing else needs them."""
        for seg in job.segments:
            left = self._busy.pop(seg.relpath, 0) - 1
            if left > 0:
                self._busy[seg.relpath] = left

    def _in_window(self, seg: SegRef) -> bool:
        return any(seg.run == p.run and seg.end > w.start and seg.start < w.end
                   for p, w in ((p, self.window(p)) for p in self.pending.values()))

    def _recent(self, seg: SegRef) -> bool:
        """Within the current run's pre-roll horizon (an event confirmed late may still want it)."""
        return seg.run == self.run and seg.end >= self.recorded_until - self.pre_s - CONFIRM_MARGIN_S

    def needed(self) -> set[str]:
        """Segments an event's window being written uses, or that a waiting event's window (or a late-confirmed
        event's pre-roll) covers."""
        return {s.relpath for s in self.segments if s.relpath in self._busy or self._recent(s) or self._in_window(s)}

    def expendable(self) -> list[SegRef]:
        """Events-only mode: segments older than the pre-roll window that no waiting event needs; forgotten here
        (the store deletes those no event holds)."""
        if self.continuous:
            return []
        doomed = [s for s in self.segments if s.keep == KEEP_NONE and s.relpath not in self._busy
                  and not self._recent(s) and not self._in_window(s)]
        self.forget({s.relpath for s in doomed})
        return doomed
