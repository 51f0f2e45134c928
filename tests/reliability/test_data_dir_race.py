"""Two processes on one data directory: one `facecam run` writes; everything beside it is safe.

Regression: two `facecam run` on one data directory were not prevented, and
one start's repair deleted the other's temporary snapshot file.

Two runs started at the same moment: one wins the lock, the other is refused
with one line naming the winner's pid and exit status 2. Beside the winner a
third run is refused the same way and deletes nothing (a snapshot the winner
is half way through writing stays); ``facecam events`` and ``facecam status``
only read (they work on a read-only view of the directory while the daemon
writes); ``facecam enroll`` enrols safely and says the daemon uses the photo
from its next start; ``facecam web`` serves. The winner runs on undisturbed and
stops cleanly; every database passes ``integrity_check``.
"""

from __future__ import annotations

import datetime as dt
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.alerts_support import free_port
from tests.conftest import AGEITGEY, REPO, facecam
from tests.reliability.support import FAST_VISITS, Daemon, assert_databases_intact, daemon_status, poll


@pytest.fixture()
def read_only_view(tmp_path: Path, data_dir: Path) -> Iterator[Path]:
    """The data directory bind-mounted read-only (needs root, as CI has): nothing can write through it."""
    view = tmp_path / "ro"
    view.mkdir()
    for cmd in (["mount", "--bind", str(data_dir), str(view)], ["mount", "-o", "remount,bind,ro", str(view)]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(view)], capture_output=True)
            pytest.fail(f"cannot make a read-only bind mount (needs root, as CI has): {done.stderr.strip()}")
    yield view
    subprocess.run(["umount", "-l", str(view)], capture_output=True)


def refused_by(r: subprocess.CompletedProcess | tuple[int, str], pid: int) -> None:
    """A second run's refusal: exit 2, one line ``facecam: error:`` naming the holder's pid."""
    code, err = (r.returncode, r.stderr) if isinstance(r, subprocess.CompletedProcess) else r
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(rf"facecam: error: data directory .* is in use by facecam run \(pid {pid}, started ", err), err


def test_one_writer_per_data_directory_and_safe_neighbours(data_dir: Path, read_only_view: Path,
                                                           tmp_path: Path) -> None:
    config = tmp_path / "facecam.toml"
    config.write_text(f'{FAST_VISITS}jsonl = "{tmp_path / "alerts.jsonl"}"\n')
    # a frame a second: the daemon writes visits and status while leaving the CPU to its neighbours
    racers = [Daemon.looped_clip(data_dir, config, tmp_path / f"racer-{i}.log", "--fps-cap", "1") for i in range(2)]
    try:
        poll(lambda: any(not d.running() for d in racers), 30, "one of two runs started together to be refused")
        [loser] = [d for d in racers if not d.running()]
        [daemon] = [d for d in racers if d.running()]
        refused_by((loser.proc.returncode, loser.text()), daemon.pid)
        poll(lambda: daemon_status(data_dir).get("pid") == daemon.pid, 60, "the winner to run")

        # a snapshot the daemon is writing (atomic_write's temporary file): a refused start must not repair it away
        day = data_dir / "events" / dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        day.mkdir(parents=True, exist_ok=True)
        inflight = day / ".tmp-inflight-snapshot"
        inflight.write_bytes(b"half a jpeg")
        before = _names(data_dir)
        r = facecam("run", "--data-dir", str(data_dir), "--source", str(AGEITGEY / "identities" / "obama"))
        refused_by(r, daemon.pid)
        assert inflight.read_bytes() == b"half a jpeg"
        assert _names(data_dir) == before

        # readers work through a read-only view while the daemon writes: they never write
        poll(lambda: (data_dir / "events.sqlite3").exists() and (data_dir / "outbox.sqlite3").exists(), 60,
             "the daemon's databases")
        r = facecam("events", "--data-dir", str(read_only_view))
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        r = facecam("status", "--data-dir", str(read_only_view))
        assert r.returncode == 0 and f"daemon: running (pid {daemon.pid}" in r.stdout, r.stdout + r.stderr
        assert "sink jsonl:" in r.stdout and "problem:" not in r.stdout

        # enrolling beside it is safe (SQLite transactions) and says when the daemon will use the photo
        r = facecam("enroll", "--data-dir", str(data_dir), "alex_lacamoire",
                    str(AGEITGEY / "identities" / "alex_lacamoire" / "alex-lacamoire.png"))
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert f"facecam run (pid {daemon.pid}" in r.stderr and "from its next start" in r.stderr
        with sqlite3.connect(f"file:{data_dir / 'gallery.sqlite3'}?mode=ro", uri=True) as db:
            assert sorted(n for (n,) in db.execute("SELECT name FROM people")) == ["alex_lacamoire",
                                                                                 "lin_manuel_miranda"]

        # the web app without cameras serves from the same directory
        port = free_port()
        web = subprocess.Popen([sys.executable, "-m", "camera", "web", "--data-dir", str(data_dir), "--web",
                                f"127.0.0.1:{port}"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
        try:
            poll(lambda: _answers(f"http://127.0.0.1:{port}/api/v1/openapi.json"), 60, "the web app")
            assert httpx.get(f"http://127.0.0.1:{port}/api/v1/status").status_code == 401  # no account yet
        finally:
            web.send_signal(signal.SIGTERM)
            out = web.communicate(timeout=30)[0]
        assert web.returncode == 0 and "Traceback" not in out, out

        time.sleep(1.0)
        assert daemon.running()
        assert daemon.stop() == 0
        log = daemon.text()
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
        assert inflight.exists()  # nobody else's start repaired the daemon's files
        assert_databases_intact(data_dir, ["gallery.sqlite3", "events.sqlite3", "outbox.sqlite3"])
    finally:
        for d in racers:
            d.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _names(folder: Path) -> list[str]:
    """The files of ``folder`` but the daemon's own passing temporary ones (its status file's)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".tmp-"))
