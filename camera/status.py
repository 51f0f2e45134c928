"""Daemon status: what ``facecam run`` is doing, for ``facecam status``.

The running daemon rewrites ``DATA_DIR/status.json`` atomically every few
seconds (cameras, frames per second, dropped frames, faces, alerts); the
outbox's own SQLite file has each sink's queue and last delivery.
``facecam status`` reads both without disturbing the daemon.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from camera.fsutil import atomic_write

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
#: A status older than this many seconds means the daemon is not running (or stuck).
STALE_AFTER_S = 30.0


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


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(root: Path) -> dict[str, Any] | None:
    """The last status the daemon wrote, with ``"alive"`` added; ``None`` if it never wrote one."""
    path = Path(root) / STATUS_FILE
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("unreadable %s: %s", path, exc)
        return None
    updated = dt.datetime.fromisoformat(str(status.get("updated", "1970-01-01T00:00:00Z")).replace("Z", "+00:00"))
    age = time.time() - updated.timestamp()
    status["alive"] = bool(status.get("running")) and _pid_alive(int(status.get("pid", 0))) and age < STALE_AFTER_S
    status["age_s"] = age
    return status


def format_status(root: Path) -> str:
    """The text ``facecam status`` prints: the daemon, each camera, each sink."""
    from camera.alerts.outbox import read_stats

    lines = []
    status = read_status(root)
    if status is None:
        lines.append(f"daemon: never ran with data directory {root}")
    else:
        state = "running" if status["alive"] else "not running"
        lines.append(f"daemon: {state} (pid {status.get('pid')}, started {status.get('started')}, "
                     f"status {status['age_s']:.0f} s old)")
        for name, cam in sorted(status.get("cameras", {}).items()):
            lines.append(f"camera {name}: {cam.get('fps', 0):.1f} fps, {cam.get('frames', 0)} frames, "
                         f"{cam.get('dropped', 0)} dropped, {cam.get('faces', 0)} faces, "
                         f"{cam.get('alerts', 0)} alerts, {cam.get('errors', 0)} errors")
    outbox = Path(root) / "outbox.sqlite3"
    if outbox.exists():
        for st in read_stats(outbox):
            last = st.last_delivery.isoformat(timespec="seconds") if st.last_delivery else "never"
            err = f", last error: {st.last_error}" if st.last_error else ""
            lines.append(f"sink {st.sink}: {st.queued} queued, {st.delivered} delivered, last delivery {last}{err}")
    else:
        lines.append("sinks: no outbox yet (no alert sink has been configured)")
    return "\n".join(lines)
