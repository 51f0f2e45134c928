"""glibc's malloc set up for the long-running daemon: at most two arenas.

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
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameter number for the arena limit (malloc.h)
M_ARENA_MAX = -8
#: arenas the daemon allows
DAEMON_ARENAS = 2


def limit_arenas(arenas: int = DAEMON_ARENAS) -> bool:
    """Allow at most ``arenas`` malloc arenas from now on (glibc only); ``True`` when the limit was set."""
    if arenas < 1:
        raise ValueError(f"limit_arenas: expected at least 1 arena, got {arenas}")
    if "MALLOC_ARENA_MAX" in os.environ or not uses_glibc():
        return False
    try:
        done = bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas))  # the process's own C library
    except (OSError, AttributeError) as exc:
        log.debug("malloc: cannot set the arena limit: %s", exc)
        return False
    if done:
        log.debug("malloc: at most %d arenas", arenas)
    return done


def uses_glibc() -> bool:
    """Whether this process runs on glibc (whose ``mallopt`` knows :data:`M_ARENA_MAX`)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this system knows: not glibc
        return False
