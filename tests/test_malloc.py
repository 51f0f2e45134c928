"""The daemon's malloc arena limit (camera/malloc.py), checked in fresh interpreters (it is process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from camera.malloc import limit_arenas, map_large_blocks, uses_glibc
from tests.conftest import REPO

needs_glibc = pytest.mark.skipif(not uses_glibc(), reason="the arena limit is glibc's")

#: starts 8 threads that each allocate and stay alive together, then prints the arenas glibc made
ARENAS_AFTER_8_THREADS = r"""
import ctypes, sys, threading
from camera.malloc import limit_arenas
print(limit_arenas(), file=sys.stderr)
libc = ctypes.CDLL(None)
libc.open_memstream.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
together = threading.Barrier(9)
held = []
def work():
    held.append(bytearray(50_000))
    together.wait()
    together.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
together.wait()
buf, size = ctypes.c_char_p(), ctypes.c_size_t()
f = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
libc.malloc_info(0, f)
libc.fclose(f)
print(ctypes.string_at(buf, size.value).decode().count("<heap nr="))
together.wait()
"""


def _arenas(env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-c", ARENAS_AFTER_8_THREADS], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    return int(done.stdout.strip()), done.stderr.strip()


@needs_glibc
def test_eight_busy_threads_share_two_arenas() -> None:
    """Regression (soak): with glibc's default of 8 arenas per core, the daemon's threads spread freed frame
    buffers over 16 arenas on 2 cores, RSS ~27 MB higher and still growing after minutes."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _arenas(env) == (2, "True")


@needs_glibc
def test_an_operators_malloc_arena_max_wins() -> None:
    env = {**os.environ, "MALLOC_ARENA_MAX": "4"}
    assert _arenas(env) == (4, "False")


def test_at_least_one_arena() -> None:
    with pytest.raises(ValueError, match="at least 1 arena"):
        limit_arenas(0)


#: frees an 8 MB block (glibc then raises a dynamic threshold to 8 MB), then allocates and frees a 4 MB one,
#: and prints how much of it stayed resident (MB)
RESIDENT_AFTER_FREEING_4_MB = r"""
import ctypes, sys
from camera.malloc import map_large_blocks
if sys.argv[1] == "fixed":
    assert map_large_blocks()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def resident_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
big = libc.malloc(8 << 20)
ctypes.memset(big, 1, 8 << 20)
libc.free(big)
before = resident_mb()
block = libc.malloc(4 << 20)
ctypes.memset(block, 1, 4 << 20)
libc.free(block)
print(round(resident_mb() - before, 1))
"""


def _resident_after_free(mode: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    done = subprocess.run([sys.executable, "-c", RESIDENT_AFTER_FREEING_4_MB, mode], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return float(done.stdout)


@needs_glibc
def test_large_blocks_go_back_to_the_system_when_freed() -> None:
    """Regression (issue 15): glibc's dynamic mmap threshold let freed frames, pyramids and onnxruntime's
    activations stay resident in the heap; with the threshold fixed a freed 4 MB block is given back."""
    assert _resident_after_free("dynamic") >= 3.5  # the control: glibc's default keeps it
    assert _resident_after_free("fixed") < 0.5


def test_a_threshold_of_at_least_one_byte() -> None:
    with pytest.raises(ValueError, match="at least 1 byte"):
        map_large_blocks(0)
