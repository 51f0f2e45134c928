"""Shared by the reliability suite: a real ``facecam run`` in the background, SQLite checks, alert accounting.

Nothing is faked: the daemon is ``python -m camera run`` on the hamilton clip,
looped in real time (about one alert every 2-3 s with the settings of
:data:`FAST_VISITS`), and what it accepted is read back from its own outbox.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from camera.alerts.outbox import SinkStats, read_stats
from tests.conftest import HAMILTON, REPO

#: a visit and its alerts every few seconds of the looped clip (lin_manuel_miranda arrives, leaves, returns)
FAST_VISITS = "[presence]\naway_after_s = 1.0\n[alerts]\ncooldown_s = 1.0\n"
#: the outbox retries at once and waits for its queues when the run ends
FAST_OUTBOX = "[alerts.outbox]\nbase_delay_s = 0.2\nmax_delay_s = 1.0\nclose_timeout_s = 20\n"


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file, opened read-only."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def assert_databases_intact(root: Path, expected: Iterable[str] = ()) -> dict[str, str]:
    """Every ``*.sqlite3`` in the data directory passes ``integrity_check``; ``expected`` ones exist."""
    found = {p.name: integrity(p) for p in sorted(Path(root).glob("*.sqlite3"))}
    assert set(expected) <= set(found), f"missing databases: {set(expected) - set(found)}"
    assert all(v == "ok" for v in found.values()), found
    return found


def accepted_ids(outbox: Path, sink: str) -> list[str]:
    """The ids of the alerts the outbox stored for ``sink``, in the order it stored them (none yet: ``[]``;
    a run killed while it created the file leaves it empty)."""
    if not outbox.exists():
        return []
    with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'deliveries'").fetchone():
            return []
        return [r[0] for r in db.execute("SELECT a.id FROM alerts a JOIN deliveries d ON d.alert_seq = a.seq "
                                         "WHERE d.sink = ? ORDER BY a.seq", (sink,))]


def sink_stats(outbox: Path, sink: str) -> SinkStats | None:
    """One sink's queue as ``facecam status`` reads it (read-only, beside the running daemon)."""
    if not outbox.exists():
        return None
    try:
        return next((s for s in read_stats(outbox) if s.sink == sink), None)
    except sqlite3.OperationalError:  # the daemon is creating the file right now
        return None


def daemon_status(root: Path) -> dict:
    """The running daemon's ``status.json`` (written once its cameras are open), ``{}`` before."""
    try:
        return json.loads((Path(root) / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def poll(cond: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1) -> float:
    """Wait for ``cond``; fail the test with ``what`` after ``timeout_s``; returns the seconds waited."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)
    return time.monotonic() - t0


@dataclass(frozen=True)
class Accounting:
    """What a sink got against what the outbox accepted for it."""

    accepted: int
    delivered: int
    lost: list[str]
    duplicated: int
    strangers: list[str]

    @classmethod
    def of(cls, accepted: list[str], received: list[str]) -> Accounting:
        got = Counter(received)
        return cls(len(set(accepted)), len(set(accepted) & set(got)), sorted(set(accepted) - set(got)),
                   sum(n - 1 for n in got.values()), sorted(set(got) - set(accepted)))

    def line(self, what: str) -> str:
        return (f"{what}: {self.accepted} alerts accepted by the outbox, {self.delivered} delivered, "
                f"{len(self.lost)} lost, {self.duplicated} duplicated")


class Daemon:
    """``facecam run`` in the background, its standard error in ``log``."""

    def __init__(self, *args: str, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "camera", "run", *args], cwd=REPO,
                                         stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    @classmethod
    def looped_clip(cls, data: Path, config: Path, log: Path, *extra: str) -> Daemon:
        return cls("--config", str(config), "--data-dir", str(data), "--source", str(HAMILTON), "--loop",
                   "--camera", "hall", *extra, log=log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM (a clean stop: the outbox drains for ``close_timeout_s``) and the exit status."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.running():
            self.proc.kill()
        self.proc.wait(30)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records the ``id`` of every alert POSTed to it, repeats included,
    in arrival order, and answers 200 ``delay_s`` later (a wider window for a crash between a delivery and
    its record); the first ``fail_first`` requests get a 503 instead (and are not recorded)."""

    def __init__(self, delay_s: float = 0.0, fail_first: int = 0) -> None:
        self.ids: list[str] = []
        self.failed = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    ok = receiver.failed >= fail_first
                    if ok:
                        receiver.ids.append(json.loads(body)["id"])
                    else:
                        receiver.failed += 1
                time.sleep(delay_s)
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def received(self) -> list[str]:
        with self._lock:
            return list(self.ids)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
