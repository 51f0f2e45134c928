"""Routing rules: pure decisions (table tests) and the Router in front of a real outbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from camera.alerts.outbox import Outbox
from camera.alerts.rules import QuietHours, Route, Router, Rule, local_time, record_sent, route
from camera.types import UNKNOWN
from tests.alerts_support import RecordingSink, make_alert, wait_until

T = dt.time
SINKS = ("mqtt", "desktop", "webhook")


@pytest.mark.parametrize(("start", "end", "at", "quiet"), [
    (T(22), T(7), T(23, 30), True),
    (T(22), T(7), T(0, 0), True),
    (T(22), T(7), T(6, 59, 59), True),
    (T(22), T(7), T(7, 0), False),  # end is exclusive
    (T(22), T(7), T(21, 59), False),
    (T(22), T(7), T(22, 0), True),  # start is inclusive
    (T(9), T(17), T(12), True),
    (T(9), T(17), T(17), False),
    (T(9), T(17), T(8), False),
])
def test_quiet_hours_window(start: dt.time, end: dt.time, at: dt.time, quiet: bool) -> None:
    assert QuietHours(start, end).contains(at) is quiet


@pytest.mark.parametrize(("start", "end", "error"), [
    ("22:00", "22:00", "start != end"),
    ("25:00", "07:00", "hour must be in"),
    ("10pm", "07:00", "Invalid isoformat"),
])
def test_quiet_hours_refuses_bad_windows(start: str, end: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        QuietHours.parse(start, end)


def test_quiet_hours_use_the_local_time_of_the_alert() -> None:
    utc = dt.datetime(2024, 1, 15, 22, 30, tzinfo=dt.UTC)  # 23:30 in Berlin, 17:30 in New York
    assert local_time(utc, ZoneInfo("Europe/Berlin")) == T(23, 30)
    assert local_time(utc, ZoneInfo("America/New_York")) == T(17, 30)
    night = Rule(("mqtt",), quiet_hours=QuietHours(T(22), T(7)))
    a = make_alert(when=utc)
    assert route(a, [night], SINKS, {}, ZoneInfo("Europe/Berlin")) == []
    assert route(a, [night], SINKS, {}, ZoneInfo("America/New_York")) == [Route("mqtt")]


R_ALICE_DOOR = Rule(("desktop",), persons=("alice",), cameras=("door",))
R_UNKNOWN = Rule(("mqtt", "webhook"), only_unknown=True, snapshot=True)
R_ALL_NO_SNAP = Rule(("mqtt",), snapshot=False)


@pytest.mark.parametrize(("rules", "person", "camera", "expected"), [
    ((), "alice", "door", [Route(s) for s in SINKS]),  # no rules: everything everywhere
    ((R_ALICE_DOOR,), "alice", "door", [Route("desktop")]),
    ((R_ALICE_DOOR,), "alice", "garden", []),
    ((R_ALICE_DOOR,), "bob", "door", []),
    ((R_UNKNOWN,), "bob", "door", []),
    ((R_UNKNOWN,), UNKNOWN, "door", [Route("mqtt"), Route("webhook")]),
    ((R_ALL_NO_SNAP,), "bob", "door", [Route("mqtt", snapshot=False)]),
    ((R_ALL_NO_SNAP, R_UNKNOWN), UNKNOWN, "door", [Route("mqtt"), Route("webhook")]),  # any rule's snapshot
    ((R_ALL_NO_SNAP, R_ALICE_DOOR), "alice", "door", [Route("mqtt", False), Route("desktop")]),
    ((Rule(("mqtt",), persons=(UNKNOWN,)),), UNKNOWN, "door", [Route("mqtt")]),
])
def test_route_table(rules: tuple[Rule, ...], person: str, camera: str, expected: list[Route]) -> None:
    assert route(make_alert(person=person, camera=camera), rules, SINKS, {}) == expected


def test_cooldown_is_per_sink_person_and_camera_in_alert_time() -> None:
    rules = [Rule(("mqtt",), cooldown_s=60), Rule(("desktop",))]
    t0 = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    state: dict = {}

    def send(person: str, camera: str, after_s: float) -> list[str]:
        a = make_alert(person=person, camera=camera, when=t0 + dt.timedelta(seconds=after_s))
        routes = route(a, rules, SINKS, state)
        record_sent(a, routes, state)
        return [r.sink for r in routes]

    assert send("alice", "door", 0) == ["mqtt", "desktop"]
    assert send("alice", "door", 30) == ["desktop"]  # mqtt cools down; desktop has no cooldown
    assert send("bob", "door", 31) == ["mqtt", "desktop"]  # another person
    assert send("alice", "garden", 32) == ["mqtt", "desktop"]  # another camera
    assert send("alice", "door", 59.9) == ["desktop"]
    assert send("alice", "door", 60) == ["mqtt", "desktop"]  # 60 s after the last one routed to mqtt


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"sinks": ()}, "at least one sink"),
    ({"sinks": ("mqtt",), "cooldown_s": -1}, "cooldown_s"),
])
def test_rule_validation(kwargs: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Rule(**kwargs)


def test_router_feeds_the_outbox_and_checks_sink_names(tmp_path: Path) -> None:
    mqtt, desktop = RecordingSink("mqtt"), RecordingSink("desktop")
    outbox = Outbox(tmp_path / "o.sqlite3", [mqtt, desktop], base_delay_s=0.05, max_delay_s=0.2)
    with pytest.raises(ValueError, match=r"unknown sink 'matrix'; valid names: mqtt, desktop"):
        Router(outbox, [Rule(("matrix",))])
    router = Router(outbox, [Rule(("mqtt",), cooldown_s=60, snapshot=False), Rule(("desktop",), only_unknown=True)])
    try:
        router.send(make_alert(person="alice", alert_id="a1", snapshot="/s.jpg"))
        router.send(make_alert(person="alice", alert_id="a2", n=5))  # cooling down: dropped
        router.send(make_alert(person=UNKNOWN, alert_id="u1", n=6, snapshot="/u.jpg"))
        wait_until(lambda: len(mqtt.got) == 2 and len(desktop.got) == 1, 5, "routed deliveries")
        assert [(a.id, a.snapshot) for a in mqtt.got] == [("a1", None), ("u1", None)]
        assert [(a.id, a.snapshot) for a in desktop.got] == [("u1", "/u.jpg")]
    finally:
        router.close()
