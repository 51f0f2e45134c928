"""Daemon status: what ``facecam run`` is doing, for ``facecam status`` and the web app.

The running daemon rewrites ``DATA_DIR/status.json`` atomically every few
seconds (cameras, frames per second, dropped frames, faces, alerts); the
outbox's own SQLite file has each sink's queue and last delivery.
:func:`read_daemon_status` reads both without disturbing the daemon, and
reads a damaged status file as "unknown", never as an error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from camera.alerts.outbox import SinkStats, read_stats
from camera.fsutil import atomic_write
from camera.redact import one_line

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
OUTBOX_FILE = "outbox.sqlite3"
#: A status older than this many seconds means the daemon is not running (or stuck).
STALE_AFTER_S = 30.0
#: the largest status file read (bytes); the daemon writes a few kilobytes
MAX_STATUS_BYTES = 1_000_000


@dataclass(frozen=True)
class CameraStatus:
    """One camera's counters as the daemon last wrote them (``fps``: frames per second lately)."""

    frames: int = 0
    fps: float = 0.0
    dropped: int = 0
    reconnects: int = 0
    faces: int = 0
    alerts: int = 0
    visits: int = 0
    errors: int = 0

    @classmethod
    def from_json(cls, d: object) -> CameraStatus:
        """From the status file's entry; anything missing or malformed counts as 0."""
        if not isinstance(d, dict):
            return cls()
        kw: dict[str, Any] = {}
        for f in fields(cls):
            v = d.get(f.name)
            if isinstance(v, int | float) and not isinstance(v, bool) and _finite(v):
                kw[f.name] = float(v) if f.type == "float" else int(v)
        return cls(**kw)


@dataclass(frozen=True)
class DaemonStatus:
    """The daemon and its sinks. ``state``: ``never`` (no status file), ``running``, ``stopped``
    (ended, or stale for :data:`STALE_AFTER_S`), or ``unknown`` (an unreadable status file)."""

    state: str
    pid: int | None = None
    started: str | None = None
    age_s: float | None = None
    cameras: dict[str, CameraStatus] = field(default_factory=dict)
    sinks: list[SinkStats] = field(default_factory=list)
    has_outbox: bool = False
    problem: str | None = None
    #: what the running daemon reports as wrong (events not recorded, alerts held in memory), and an outbox
    #: that cannot be read, one line each
    problems: list[str] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.state == "running"


class StatusWriter:
    """Calls ``snapshot()`` every ``interval_s`` seconds and writes it to ``DATA_DIR/status.json``.

    ``snapshot`` returns ``{"cameras": {name: {...counters...}}}``; the writer
    adds the pid, the start time and the write time (UTC ISO-8601).
    """

    def __init__(self, root: Path, snapshot: Callable[[], dict[str, Any]], interval_s: float = 5.0) -> None:
        self.path = Path(root) / STATUS_FILE
        self._snapshot = snapshot
        self._interval_s = interval_s
        self._started = _now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)

    def start(self) -> None:
        self.write()
        self._thread.start()

    def stop(self, running: bool = False) -> None:
        """Stop the thread and write a last status (``running`` False: the daemon has ended)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.write(running=running)

    def write(self, running: bool = True) -> None:
        try:
            body = {"pid": os.getpid(), "running": running, "started": self._started, "updated": _now(),
                    **self._snapshot()}
            atomic_write(self.path, json.dumps(body, indent=1, ensure_ascii=False).encode())
        except Exception as exc:  # status is best effort; never stop recognition for it
            log.warning("cannot write %s: %s", self.path, exc)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.write()


def read_daemon_status(root: Path) -> DaemonStatus:
    """The daemon's last status and the sinks' delivery state."""
    root = Path(root)
    outbox = root / OUTBOX_FILE
    try:
        sinks, unreadable = read_stats(outbox), []
    except sqlite3.Error as exc:  # a damaged outbox is reported, never a traceback
        sinks, unreadable = [], [f"{outbox}: cannot read the alert queues: {exc}"]
    path = root / STATUS_FILE
    try:
        raw = json.loads(_read_status_file(path))
    except FileNotFoundError:
        return DaemonStatus("never", sinks=sinks, has_outbox=outbox.exists(), problems=unreadable)
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON arrays nested thousands deep
        return DaemonStatus("unknown", sinks=sinks, has_outbox=outbox.exists(), problem=f"{path}: {exc}",
                            problems=unreadable)
    if not isinstance(raw, dict):
        return DaemonStatus("unknown", sinks=sinks, has_outbox=outbox.exists(),
                            problem=f"{path}: expected a JSON object, got {type(raw).__name__}", problems=unreadable)
    try:
        updated = dt.datetime.fromisoformat(str(raw.get("updated")).replace("Z", "+00:00"))
        age = time.time() - updated.timestamp()
    except ValueError:
        age = float("inf")
    pid = raw.get("pid") if isinstance(raw.get("pid"), int) else None
    alive = raw.get("running") is True and pid is not None and _pid_alive(pid) and age < STALE_AFTER_S
    cams = raw.get("cameras") if isinstance(raw.get("cameras"), dict) else {}
    problems = raw.get("problems") if isinstance(raw.get("problems"), list) else []
    return DaemonStatus("running" if alive else "stopped", pid, str(raw.get("started")), age,
                        {str(k): CameraStatus.from_json(v) for k, v in cams.items()}, sinks, outbox.exists(),
                        problems=[str(x) for x in problems if alive] + unreadable)


def format_status(s: DaemonStatus, root: Path) -> str:
    """The text ``facecam status`` prints: the daemon, each camera, each sink (each line through
    :func:`one_line`: names, times and problems come from files)."""
    if s.state == "never":
        lines = [f"daemon: never ran with data directory {root}"]
    elif s.state == "unknown":
        lines = [f"daemon: unknown (unreadable status: {s.problem})"]
    else:
        state = "running" if s.alive else "not running"
        lines = [f"daemon: {state} (pid {s.pid}, started {s.started}, status {s.age_s:.0f} s old)"]
    lines += [f"problem: {p}" for p in s.problems]
    for name, cam in sorted(s.cameras.items()):
        lines.append(f"camera {name}: {cam.fps:.1f} fps, {cam.frames} frames, {cam.dropped} dropped, "
                     f"{cam.faces} faces, {cam.alerts} alerts, {cam.errors} errors")
    if not s.has_outbox:
        lines.append("sinks: no outbox yet (no alert sink has been configured)")
    for st in s.sinks:
        last = st.last_delivery.isoformat(timespec="seconds") if st.last_delivery else "never"
        err = f", last error: {st.last_error}" if st.last_error else ""
        lines.append(f"sink {st.sink}: {st.queued} queued, {st.delivered} delivered, last delivery {last}{err}")
    return "\n".join(one_line(line) for line in lines)


def _finite(x: float) -> bool:
    """Whether ``x`` is a number a counter can hold: not NaN, not infinite, not an integer beyond a float."""
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _read_status_file(path: Path) -> bytes:
    """The status file's bytes. Only a regular file of at most :data:`MAX_STATUS_BYTES` is read, so a FIFO
    or ``/dev/zero`` in its place cannot hang ``facecam status`` or fill memory (ValueError)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = os.read(fd, MAX_STATUS_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_STATUS_BYTES:
        raise ValueError(f"larger than {MAX_STATUS_BYTES} bytes")
    return data


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return pid > 0
