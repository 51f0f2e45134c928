"""glibc's malloc set up for the long-running daemon: at most two arenas, large blocks mapped apart.

glibc gives threads arenas of their own, up to 8 per core (16 on a 2-core
machine), and each arena keeps the memory freed into it for itself. The
daemon's threads (capture per camera, inference, the event writer, one
outbox worker per sink, onnxruntime's pool) allocate frame-sized buffers
(a 640x360 frame is 0.7 MB, the detector's pyramid canvas ~10 MB) that are
often freed on another thread. Measured in-process on the hamilton clip
looping on two cameras (``scripts/soak.py`` measures the daemon itself):
with 16 arenas, ~65 MB lay free inside them and the arenas kept growing
(~+3 MB from minute 1 to 5.7 while the memory in use stayed at ~85 MB);
with 2, ~37 MB lay free, RSS was ~27 MB lower and flat after minute 2.7.

:func:`limit_arenas` sets ``M_ARENA_MAX`` with ``mallopt``; call it before
the daemon starts its threads (arenas that exist already stay). It does
nothing where ``MALLOC_ARENA_MAX`` is set in the environment (glibc applied
that at start-up, and the operator's choice wins) or the C library is not
glibc (musl, macOS).

:func:`map_large_blocks` fixes ``M_MMAP_THRESHOLD`` at 128 KiB: every block
that large gets pages of its own, returned to the system when it is freed.
glibc's default starts there too but raises the threshold to the size of
each mapped block that is freed (up to 32 MB), so after the first frames
the frame buffers, the detector's pyramid canvas and onnxruntime's
activations come from the heap and what they leave free stays resident.
``facecam run`` on the hamilton clip (issue 15): onnxruntime's graph
optimisation of the descriptor alone peaked ~44 MB higher with the dynamic
threshold (123 MB against 79 MB resident right after the session was built),
and the whole run at ~22 MB more. Likewise it does nothing where
``MALLOC_MMAP_THRESHOLD_`` is set or the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameter number for the arena limit (malloc.h)
M_ARENA_MAX = -8
#: glibc's ``mallopt`` parameter number for the mmap threshold (malloc.h)
M_MMAP_THRESHOLD = -3
#: arenas the daemon allows
DAEMON_ARENAS = 2
#: bytes from which the daemon's blocks are mapped on their own (glibc's default starting value, kept fixed)
DAEMON_MMAP_THRESHOLD = 128 * 1024


def limit_arenas(arenas: int = DAEMON_ARENAS) -> bool:
    """Allow at most ``arenas`` malloc arenas from now on (glibc only); ``True`` when the limit was set."""
    if arenas < 1:
        raise ValueError(f"limit_arenas: expected at least 1 arena, got {arenas}")
    if "MALLOC_ARENA_MAX" in os.environ or not uses_glibc():
        return False
    return _mallopt(M_ARENA_MAX, arenas, f"at most {arenas} arenas")


def map_large_blocks(threshold: int = DAEMON_MMAP_THRESHOLD) -> bool:
    """Map blocks of at least ``threshold`` bytes on their own from now on, a fixed threshold (glibc only);
    ``True`` when it was set."""
    if threshold < 1:
        raise ValueError(f"map_large_blocks: expected a threshold of at least 1 byte, got {threshold}")
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or not uses_glibc():
        return False
    return _mallopt(M_MMAP_THRESHOLD, threshold, f"large blocks mapped from {threshold} bytes")


def uses_glibc() -> bool:
    """Whether this process runs on glibc (whose ``mallopt`` knows :data:`M_ARENA_MAX`)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this system knows: not glibc
        return False


def _mallopt(param: int, value: int, what: str) -> bool:
    """glibc's ``mallopt(param, value)`` in the process's own C library; ``what`` says it in the debug log."""
    try:
        done = bool(ctypes.CDLL(None).mallopt(param, value))
    except (OSError, AttributeError) as exc:
        log.debug("malloc: cannot set %s: %s", what, exc)
        return False
    if done:
        log.debug("malloc: %s", what)
    return done
