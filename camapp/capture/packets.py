"""The camera's own H.264 packets, buffered for the recorder (see Frame.packets)."""

from __future__ import annotations

import threading
from collections import deque

from camapp.types import EncodedPacket

MAX_BUFFERED = 600  # packets kept for a recorder that is not taking them (about a minute of video): memory bound


class PacketBuffer:
    """The PacketFeed of one camera connection: packets in arrival order until the recorder takes them."""

    def __init__(self, maxlen: int = MAX_BUFFERED) -> None:
        self._packets: deque[EncodedPacket] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.overflowed = 0  # packets lost because nobody took them in time
        self._lost = False

    def put(self, packet: EncodedPacket) -> None:
        with self._lock:
            if len(self._packets) == self._packets.maxlen:
                self.overflowed += 1
                self._lost = True
            self._packets.append(packet)

    def take(self) -> list[EncodedPacket]:
        """Everything since the last take; after a loss, from the next keyframe on (what came between cannot be
        decoded without the packets lost before it)."""
        with self._lock:
            out, lost = list(self._packets), self._lost
            self._packets.clear()
            self._lost = False
        if lost:
            keys = [i for i, p in enumerate(out) if p.keyframe]
            if not keys:
                with self._lock:
                    self._lost = True  # still waiting for a keyframe
                return []
            out = out[keys[0]:]
        return out
