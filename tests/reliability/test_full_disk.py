"""A full data disk: alerts still reach the sinks that can take them, the outbox resumes when space returns,
the run says what failed and exits 1, and nothing stored is damaged.

Regression: 52 "database or disk is full" frame failures, 30 of ~80 visits recorded, a JSONL sink on
another disk (with room) stopped at 20 lines, and the run exited 0; at start-up a full disk was reported
as "not a usable gallery database".
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from camera.alerts.outbox import Outbox
from tests.alerts_support import RecordingSink, make_alert, wait_until
from tests.conftest import AGEITGEY, HAMILTON, REPO, facecam
from tests.reliability.conftest import SmallDisk


def _integrity(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def test_the_outbox_delivers_from_memory_on_a_full_disk_and_stores_when_room_returns(small_disk: SmallDisk) -> None:
    sink = RecordingSink("rec")
    box = Outbox(small_disk.path / "outbox.sqlite3", [sink], base_delay_s=0.05, max_delay_s=0.2)
    try:
        first = make_alert(person="before")
        box.send(first)
        small_disk.fill()
        alerts = [make_alert(person=f"p{i}", n=i) for i in range(20)]
        for a in alerts:
            box.send(a)  # never raises: the alert is held in memory
        wait_until(lambda: len(sink.ids) == 21, 10, "every alert delivered while the disk is full")
        assert sink.ids == [first.id] + [a.id for a in alerts]  # in order, none lost, none twice
        assert box.problem is not None and "held in memory" in box.problem
        assert {s.sink: s.queued for s in box.stats()} == {"rec": 0}
        small_disk.free()
        wait_until(lambda: box.problem is None, 10, "the held alerts to be stored")
    finally:
        box.close()
    with sqlite3.connect(small_disk.path / "outbox.sqlite3") as db:
        rows = db.execute("SELECT a.id, d.delivered IS NOT NULL FROM alerts a JOIN deliveries d ON d.alert_seq = a.seq "
                          "ORDER BY a.seq").fetchall()
    assert rows == [(a.id, 1) for a in [first, *alerts]]  # stored after all, each marked delivered
    assert _integrity(small_disk.path / "outbox.sqlite3") == "ok"


def test_a_disk_that_fills_during_a_run_loses_no_alert(small_disk: SmallDisk, tmp_path: Path) -> None:
    """The daemon on the looped clip (a visit and an alert every pass); the data disk fills half way."""
    data = small_disk.path / "data"
    r = facecam("enroll", "--data-dir", str(data), "lin_manuel_miranda",
                *map(str, (AGEITGEY / "identities" / "lin_manuel_miranda").iterdir()))
    assert r.returncode == 0, r.stderr
    config = tmp_path / "facecam.toml"
    config.write_text("[presence]\naway_after_s = 1.0\n[alerts]\ncooldown_s = 1.0\n")
    alerts = tmp_path / "alerts.jsonl"  # the sink's file is on another disk, with room
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "camera", "run", "--config", str(config), "--data-dir", str(data),
                             "--source", str(HAMILTON), "--loop", "--jsonl", str(alerts)], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: alerts.exists() and alerts.read_text().count("\n") >= 1, 120, "the first alert")
        small_disk.fill()
        full_at = dt.datetime.now(dt.UTC)
        time.sleep(20)  # two passes of the clip on a full disk
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    out = (tmp_path / "run.log").read_text()
    assert "Traceback" not in out, out[-3000:]
    assert code == 1 and out.strip().splitlines()[-1].startswith("facecam: ") and "the disk is full" in out
    got = [json.loads(line) for line in alerts.read_text().splitlines()]
    after = [a for a in got if dt.datetime.fromisoformat(a["time"].replace("Z", "+00:00")) > full_at]
    assert sum(a["kind"] == "arrived" for a in after) >= 1, got  # alerts kept coming on a full disk
    assert len({a["id"] for a in got}) == len(got)  # none twice
    small_disk.free()
    for db in ("gallery.sqlite3", "events.sqlite3", "outbox.sqlite3"):
        assert _integrity(data / db) == "ok"
    with sqlite3.connect(data / "outbox.sqlite3") as db:  # stored once room came back? not by this process:
        stored = {r[0] for r in db.execute("SELECT id FROM alerts")}  # it ended while the disk was full
    assert stored <= {a["id"] for a in got}
    r = facecam("people", "--data-dir", str(data))
    assert r.returncode == 0 and "lin_manuel_miranda" in r.stdout  # nothing already stored was lost


def test_a_full_disk_at_start_up_is_one_clear_line(small_disk: SmallDisk) -> None:
    data = small_disk.path / "data"
    r = facecam("enroll", "--data-dir", str(data), "lin_manuel_miranda",
                str(AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"))
    assert r.returncode == 0, r.stderr
    small_disk.fill()
    r = facecam("run", "--data-dir", str(data), "--source", str(HAMILTON))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("facecam: error:") and "the disk is full" in r.stderr


def test_opening_a_gallery_on_a_full_disk_says_the_disk_is_full(small_disk: SmallDisk) -> None:
    data = small_disk.path / "data"
    small_disk.fill()
    r = facecam("enroll", "--data-dir", str(data), "lin_manuel_miranda",
                str(AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("facecam: error:") and "disk is full" in r.stderr
