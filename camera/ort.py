"""onnxruntime sessions as facecam runs them: CPU, one thread per core, bounded spinning, built lazily."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnxruntime as ort

from camera.cores import cpu_cores
from camera.errors import ModelLoadError

#: How long (microseconds) onnxruntime's idle workers spin before they sleep.
SPIN_US = 200
#: The first onnxruntime with ``session.intra_op.spin_duration_us`` (1.24 lacks it, 1.26 has it).
SPIN_BOUNDED_SINCE = (1, 26)

SessionFactory = Callable[[], Any]


def version_at_least(version: str, least: tuple[int, int]) -> bool:
    """``"1.32.0"`` >= ``(1, 26)``; an unparsable version counts as older."""
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= least


def make_session(path: Path, threads: int | None = None, keep_activations: bool = False) -> Any:
    """An onnxruntime CPU session for ``path``: one intra-op thread per core,
    sequential execution, full graph optimisation, worker threads that spin at
    most :data:`SPIN_US` microseconds once a run is over (the cores are shared
    with capture and other processes; without that bound, no spinning).

    ``keep_activations``: keep the arena and the memory pattern, for a model
    run at one input size over and over (a camera's detector). Its activations
    then stay allocated between runs instead of being mapped and faulted in
    afresh on each (:func:`camera.malloc.map_large_blocks`): YuNet at 480 x
    288 takes 5.7 ms a frame on one thread that way, 21 ms without."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or cpu_cores()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if version_at_least(ort.__version__, SPIN_BOUNDED_SINCE):
        # workers spin between a run's operators instead of sleeping and being woken for each
        # one (~0.6 ms of a ~5 ms descriptor on 2 cores), and stop SPIN_US after the run ends
        so.add_session_config_entry("session.intra_op.allow_spinning", "1")
        so.add_session_config_entry("session.intra_op.spin_duration_us", str(SPIN_US))
    else:  # older onnxruntime spins without a bound: that would burn a core between frames
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    # Frames vary in size, and onnxruntime's memory pattern plans one block per input shape and keeps it:
    # without it `facecam run` on the hamilton clip peaks at 225 MB instead of 263 MB, at the same speed.
    so.enable_mem_pattern = keep_activations
    # Nor an arena: it keeps the largest activations it ever held (~17 MB for MMOD on a 640 px frame) between
    # runs. Without it they are malloc'd per run and, with camera.malloc.map_large_blocks, given back at
    # once: that run peaks ~8 MB lower (issue 15). Without map_large_blocks they stay in the heap, and
    # turning the arena off had raised the peak (to 301 MB).
    so.enable_cpu_mem_arena = keep_activations
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelLoadError(f"onnxruntime cannot load {path}: {exc}") from exc


class LazySession:
    """Builds a session on first use (constructors stay cheap), once, whichever thread comes first."""

    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory
        self._session: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._factory()
        return self._session
