"""The cores this process may use, and how the inference threads share them out (no heavy imports)."""

from __future__ import annotations

import os


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def session_threads(concurrent_runs: int) -> int:
    """Threads for each session when ``concurrent_runs`` threads run sessions at once (the pipeline's
    inference threads, one per core at most): the cores shared out, at least one each. On 2 cores, 8
    cameras of 640x360 at 15 fps kept 98% of their frames with two inference threads of one onnxruntime
    thread each, 94-96% with two threads each (scripts/bench_capacity.py --stagger)."""
    cores = cpu_cores()
    return max(1, cores // max(1, min(concurrent_runs, cores)))
