"""`facecam run` killed with SIGKILL at random points, again and again, on one data directory.

Each run plays the hamilton clip in a loop (an alert every 2-3 s) with a
webhook sink pointing at a receiver in this test; a seeded RNG picks when to
kill it: in start-up (just after it locked the data directory: opening and
upgrading the databases, repairing the event folder) or in the visits and
deliveries that follow an alert. After the last run stops normally: every alert id the outbox accepted reached the receiver
(lost 0) and nothing it did not accept did, repeats are counted (a kill
between a delivery and its record repeats that alert), the queue is empty,
the gallery, events and outbox pass ``integrity_check``, every event's
pictures exist, no half-written file is left, and ``facecam events`` reads it all.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import facecam
from tests.reliability.support import (
    FAST_OUTBOX,
    FAST_VISITS,
    Accounting,
    Daemon,
    Receiver,
    accepted_ids,
    assert_databases_intact,
    daemon_status,
    poll,
    sink_stats,
)

SEED = 13
#: the webhook's password, Home Assistant webhook id, token and bearer token
SECRETS = ("hunter2pw", "secret-hook-id", "t0ken-v4lue", "sekrit-bearer")


@pytest.mark.parametrize("kills", [5, pytest.param(30, marks=pytest.mark.slow)])
def test_repeated_sigkill_loses_no_accepted_alert(data_dir: Path, tmp_path: Path, kills: int) -> None:
    receiver = Receiver(delay_s=0.3, fail_first=2)  # two failures: the sink logs and stores its error
    # a Home Assistant style URL with credentials, a webhook id and a token, and an Authorization header
    url = receiver.url.replace("http://", f"http://admin:{SECRETS[0]}@") + f"/api/webhook/{SECRETS[1]}?token={SECRETS[2]}"
    config = tmp_path / "facecam.toml"
    config.write_text(f'{FAST_VISITS}{FAST_OUTBOX}[[alerts.webhook]]\nurl = "{url}"\n'
                      f'timeout_s = 2\nretries = 0\nheaders = {{ Authorization = "Bearer {SECRETS[3]}" }}\n')
    outbox = data_dir / "outbox.sqlite3"
    rng = random.Random(SEED + kills)
    daemon: Daemon | None = None
    try:
        killed_at = []
        for i in range(kills):
            stored = len(accepted_ids(outbox, "webhook"))
            daemon = Daemon.looped_clip(data_dir, config, tmp_path / f"run-{i}.log")
            if rng.random() < 0.4:  # during start-up: opening, upgrading and repairing what the last one left
                poll(lambda d=daemon: f"(pid {d.pid}," in _text(data_dir / "facecam.lock"), 60,
                     f"run {i} to lock the data directory")
                at = rng.uniform(0.0, 1.5)
                killed_at.append(f"locked+{at:.1f}")
            else:  # somewhere in the visits and deliveries that follow an alert
                poll(lambda n=stored: len(accepted_ids(outbox, "webhook")) > n, 60, f"an alert in run {i}")
                at = rng.uniform(0.0, 2.5)
                killed_at.append(f"alert+{at:.1f}")
            time.sleep(at)
            assert daemon.running(), f"run {i} ended by itself:\n{daemon.text()[-3000:]}"
            daemon.kill()
            assert "Traceback" not in daemon.text(), daemon.text()[-3000:]
        stored_before = len(accepted_ids(outbox, "webhook"))

        daemon = Daemon.looped_clip(data_dir, config, tmp_path / "last.log")
        # the last run delivers what the killed ones left, then stops cleanly
        poll(lambda: daemon_status(data_dir).get("pid") == daemon.pid, 60, "the last run to start")
        poll(lambda: getattr(sink_stats(outbox, "webhook"), "queued", 1) == 0, 60, "the queue to drain")
        assert daemon.stop() == 0, daemon.text()[-3000:]
        assert "Traceback" not in daemon.text(), daemon.text()[-3000:]

        accepted = accepted_ids(outbox, "webhook")
        acc = Accounting.of(accepted, receiver.received())
        where = ", ".join(killed_at)
        print(f"\n{acc.line(f'{kills} SIGKILLs (at {where} s)')}; {stored_before} of them stored by the killed runs")
        assert acc.lost == [] and acc.strangers == [], acc
        st = sink_stats(outbox, "webhook")
        assert st is not None and (st.queued, st.gave_up) == (0, 0)
        assert_databases_intact(data_dir, ["gallery.sqlite3", "events.sqlite3", "outbox.sqlite3"])

        with sqlite3.connect(f"file:{data_dir / 'events.sqlite3'}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT id, snapshot, crop FROM events").fetchall()
        pictures = [p for _, snap, crop in rows for p in (snap, crop) if p]
        assert all((data_dir / p).is_file() for p in pictures)  # every picture an event names is there
        assert not list((data_dir / "events").rglob(".tmp-*"))  # and no half-written one is left
        r = facecam("events", "--data-dir", str(data_dir), "--limit", "100000")
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert sum(line.split("\t")[0] in {i for i, _, _ in rows} for line in r.stdout.splitlines()) == len(rows)

        # the webhook's secrets are in no log line, not in `facecam status`, not in the outbox
        assert receiver.failed == 2
        status = facecam("status", "--data-dir", str(data_dir))
        assert "sink webhook: 0 queued" in status.stdout and "HTTP 503" in status.stdout, status.stdout
        stored = b"".join(p.read_bytes() for p in data_dir.glob("outbox.sqlite3*"))
        logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
        assert "/api/webhook/***?token=***" in logs, logs[-3000:]
        for secret in SECRETS:
            assert secret not in logs + status.stdout + status.stderr and secret.encode() not in stored, secret
    finally:
        if daemon is not None:
            daemon.kill()
        receiver.close()


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
