"""glibc malloc settings for a long-running frame pipeline (the appliance calls tune_malloc() once at start).

Frames are megabyte buffers freed at the camera's rate on many threads. By default glibc raises its mmap threshold
after the first such buffer is freed, so later frames come from per-thread arenas (up to 8 per core) and the freed
space stays in the process: RSS creeps up. A fixed threshold keeps frame-sized buffers in mmap (returned to the
system on free), a small trim threshold gives freed heap tops back, and two arenas are plenty for 2-4 cores.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value; fixed, it no longer grows
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Apply the settings; False where there is no glibc mallopt (macOS, musl), which is harmless."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD), (M_ARENA_MAX, ARENA_MAX))
    return all(mallopt(param, value) == 1 for param, value in settings)
