"""The durable outbox: store first, deliver in order with backoff, never lose or repeat an alert."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from camera.alerts.outbox import Outbox, OutboxLocked, decode_alert, encode_alert, read_stats
from camera.alerts.rules import Route
from camera.types import Alert, AlertContext, AlertKind
from tests.alerts_support import MARKER, WEIRD_NAME, RecordingSink, make_alert, wait_until

REPO = Path(__file__).resolve().parents[1]
FAST = {"base_delay_s": 0.05, "max_delay_s": 0.4}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


def test_alert_is_on_disk_before_the_sink_sees_it(db: Path) -> None:
    sink = RecordingSink()
    sink.release.clear()
    ob = Outbox(db, [sink], **FAST)
    try:
        ob.send(make_alert(alert_id="a1"))
        assert read_stats(db)[0].queued == 1  # another connection sees the committed row
        assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        sink.release.set()
        wait_until(lambda: sink.ids == ["a1"], 5, "delivery")
        wait_until(lambda: ob.stats()[0].queued == 0, 5, "the delivery to be recorded")
        st = ob.stats()[0]
        assert (st.delivered, st.last_delivery is not None, st.last_error) == (1, True, None)
    finally:
        ob.close()
    assert sink.closed


def test_failures_retry_in_order_with_growing_jittered_backoff(db: Path) -> None:
    sink = RecordingSink(fail_first=4)
    ob = Outbox(db, [sink], base_delay_s=0.05, max_delay_s=0.2)
    try:
        for i in range(3):
            ob.send(make_alert(alert_id=f"a{i}", n=i))
        wait_until(lambda: len(sink.got) == 3, 10, "three deliveries")
        assert sink.ids == ["a0", "a1", "a2"]
        gaps = [b - a for a, b in zip(sink.attempt_times, sink.attempt_times[1:5], strict=False)]
        # after failure n the wait is min(0.2, 0.05 * 2**(n-1)) * [0.5, 1]
        for n, gap in enumerate(gaps, start=1):
            assert gap >= min(0.2, 0.05 * 2 ** (n - 1)) * 0.5 - 0.01, (n, gaps)
        assert max(gaps) < 0.2 + 0.5  # bounded by max_delay_s (plus scheduling slack)
        assert ob.stats()[0].last_error == "AlertDeliveryError: down"
    finally:
        ob.close()


def test_same_alert_id_is_delivered_once(db: Path) -> None:
    sink = RecordingSink()
    ob = Outbox(db, [sink], **FAST)
    try:
        a = make_alert(alert_id="dup")
        ob.send(a)
        ob.send(a)
        wait_until(lambda: sink.ids == ["dup"], 5, "delivery")
        ob.send(a)  # after delivery, too
        ob.send(make_alert(alert_id="next"))
        wait_until(lambda: len(sink.got) == 2, 5, "second delivery")
        assert sink.ids == ["dup", "next"]
    finally:
        ob.close()


def test_undelivered_alerts_survive_a_restart_intact(db: Path) -> None:
    down = RecordingSink(fail_first=10**6)
    ob = Outbox(db, [down], **FAST)
    sent = [make_alert(person=WEIRD_NAME if i == 2 else f"p{i}", n=i, snapshot=f"/snap/{i}.jpg")
            for i in range(5)]
    for a in sent:
        ob.send(a)
    wait_until(lambda: len(down.attempt_times) >= 2, 5, "failed attempts")
    ob.close()
    up = RecordingSink()
    ob2 = Outbox(db, [up], **FAST)
    try:
        wait_until(lambda: len(up.got) == 5, 5, "redelivery after restart")
        assert up.got == sent  # every field, the weird name included, in order
    finally:
        ob2.close()
    assert not MARKER.exists()


def test_kill_9_with_alerts_queued_loses_nothing(db: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.alerts_producer", str(db), "--sink", "failing",
                             "--count", "10"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "QUEUED"
        time.sleep(0.3)  # let its worker fail a few times
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    sink = RecordingSink(name="failing")  # same sink name: it inherits the queue
    ob = Outbox(db, [sink], **FAST)
    try:
        wait_until(lambda: len(sink.got) == 10, 10, "delivery of the killed process's alerts")
        assert sink.ids == [f"k9-{i}" for i in range(10)]
        assert sink.got[0].person == WEIRD_NAME
    finally:
        ob.close()


def test_routes_choose_sinks_and_strip_snapshots(db: Path) -> None:
    a, b, c = RecordingSink("a"), RecordingSink("b"), RecordingSink("c")
    ob = Outbox(db, [a, b, c], **FAST)
    try:
        ob.send(make_alert(alert_id="x", snapshot="/s.jpg"), [Route("a", True), Route("b", False)])
        wait_until(lambda: len(a.got) == 1 and len(b.got) == 1, 5, "delivery")
        assert (a.got[0].snapshot, b.got[0].snapshot, c.got) == ("/s.jpg", None, [])
        with pytest.raises(ValueError, match="unknown sinks"):
            ob.send(make_alert(), [Route("nope")])
    finally:
        ob.close()


def test_one_failing_sink_does_not_hold_up_another(db: Path) -> None:
    down, up = RecordingSink("down", fail_first=10**6), RecordingSink("up")
    ob = Outbox(db, [down, up], **FAST)
    try:
        for i in range(3):
            ob.send(make_alert(n=i))
        wait_until(lambda: len(up.got) == 3, 5, "the healthy sink")
        stats = {s.sink: s for s in ob.stats()}
        assert (stats["down"].queued, stats["up"].queued) == (3, 0)
        assert stats["down"].oldest_queued is not None
    finally:
        ob.close()


def test_max_attempts_gives_up_on_one_alert_and_moves_on(db: Path) -> None:
    sink = RecordingSink(fail_ids=("poison",))
    ob = Outbox(db, [sink], max_attempts=2, **FAST)
    try:
        ob.send(make_alert(alert_id="poison"))
        ob.send(make_alert(alert_id="fine", n=1))
        wait_until(lambda: sink.ids == ["fine"], 5, "the next alert")
        st = ob.stats()[0]
        assert (st.queued, st.delivered, st.gave_up) == (0, 1, 1)
    finally:
        ob.close()


def test_alerts_given_up_leave_nothing_behind_in_memory(db: Path) -> None:
    """Regression (soak): each failed attempt kept the alert's next try in memory, and one given up never
    took it out again, so a sink that stayed down grew the outbox's memory with every alert."""
    sink = RecordingSink(fail_first=10**9)
    ob = Outbox(db, [sink], max_attempts=1, **FAST)
    try:
        for i in range(40):
            ob.send(make_alert(alert_id=f"a{i}", n=i))
        wait_until(lambda: ob.stats()[0].gave_up == 40, 10, "every alert to be given up")
        assert ob._retry_at == {}  # retry times stay in memory only while the disk refuses them
    finally:
        ob.close()


def test_prune_removes_old_delivered_alerts_only(db: Path) -> None:
    ok, down = RecordingSink("ok"), RecordingSink("down", fail_first=10**6)
    ob = Outbox(db, [ok, down], retention_days=7, **FAST)
    try:
        ob.send(make_alert(alert_id="both"))
        ob.send(make_alert(alert_id="only-ok", n=1), [Route("ok")])
        wait_until(lambda: len(ok.got) == 2, 5, "delivery")
        wait_until(lambda: ob.stats()[0].queued == 0, 5, "delivery recorded")
        assert ob.prune(now=time.time() + 6 * 86400) == 0
        assert ob.prune(now=time.time() + 8 * 86400) == 1  # "both" still waits for "down"
        assert {s.sink: s.queued for s in ob.stats()} == {"ok": 0, "down": 1}
    finally:
        ob.close()


def test_second_process_on_the_same_file_is_refused(db: Path) -> None:
    ob = Outbox(db, [RecordingSink()], **FAST)
    try:
        with pytest.raises(OutboxLocked, match="in use"):
            Outbox(db, [RecordingSink()], **FAST)
    finally:
        ob.close()


def test_close_is_bounded_when_a_sink_hangs(db: Path) -> None:
    sink = RecordingSink()
    sink.release.clear()
    ob = Outbox(db, [sink], close_timeout_s=0.5, **FAST)
    ob.send(make_alert(alert_id="stuck"))
    wait_until(lambda: sink.attempt_times, 5, "the attempt")
    t0 = time.monotonic()
    ob.close()
    assert time.monotonic() - t0 < 2
    sink.release.set()  # the abandoned worker finishes into a closed outbox without error
    assert read_stats(db)[0].queued == 1


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"base_delay_s": 0}, "base_delay_s"),
    ({"base_delay_s": 5, "max_delay_s": 1}, "base_delay_s"),
])
def test_bad_settings_are_refused(db: Path, kwargs: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Outbox(db, [RecordingSink()], **kwargs)


def test_duplicate_sink_names_are_refused(db: Path) -> None:
    with pytest.raises(ValueError, match="unique names"):
        Outbox(db, [RecordingSink("x"), RecordingSink("x")])


def test_stored_form_round_trips_exactly() -> None:
    a = make_alert(person=WEIRD_NAME, snapshot=None)
    context = AlertContext(event_id="v\n;$(x)", track=3, votes=4, video_time_s=1.25, frame=38,
                           last_seen=dt.datetime(2026, 11, 28, 14, 38, 12, 876306, tzinfo=dt.UTC))
    a = Alert(**{**a.__dict__, "distance": float("inf"), "kind": AlertKind.LEFT, "context": context})
    assert decode_alert(encode_alert(a)) == a


def test_alerts_stored_by_the_previous_version_still_decode() -> None:
    """Version 1 kept the context as a dict of strings; an outbox left by it must still deliver."""
    v1 = json.dumps({"v": 1, "id": "a" * 32, "camera": "door", "time": "2026-11-28T14:38:12.876306+00:00",
                     "person": "alice", "distance": 0.5, "box_xyxy": [1, 2, 3, 4], "snapshot": None,
                     "kind": "arrived", "extra": {"event": "e" * 32, "track": "2", "votes": "3",
                                                  "video_time_s": "3.203", "frame": "84"}})
    a = decode_alert(v1)
    assert a.kind is AlertKind.ARRIVED and a.context == AlertContext("e" * 32, 2, 3, 3.203, 84)
