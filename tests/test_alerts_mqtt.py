"""MQTT sink against a real mosquitto broker and a real paho subscriber.

Covers the documented payloads, Home Assistant discovery, retained presence,
availability and last will, and the outage guarantees: alerts sent while the
broker is down, or while the producer is killed with -9, arrive exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from camera.alerts.outbox import Outbox, read_stats
from camera.alerts.sinks.mqtt import MqttSink, slug
from camera.errors import AlertDeliveryError
from camera.events.config import PresenceConfig
from camera.events.presence import PresenceBoard
from camera.types import UNKNOWN, AlertKind
from tests.alerts_support import (
    MARKER,
    WEIRD_NAME,
    Mosquitto,
    Subscriber,
    make_alert,
    needs_mosquitto,
    wait_until,
)

REPO = Path(__file__).resolve().parents[1]
SINK_FAST = {"publish_timeout_s": 1.0, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}


@pytest.fixture
def broker(tmp_path: Path):
    b = Mosquitto(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def durable_broker(tmp_path: Path):
    """A broker that keeps the test subscriber's session across a restart (persistence on), so
    the subscriber cannot miss events published before it reconnects: what it counts is then
    exactly what facecam published."""
    b = Mosquitto(tmp_path, persistence=True).start()
    yield b
    b.stop()


def connected_sink(port: int, **kw) -> MqttSink:
    sink = MqttSink("127.0.0.1", port, **{**SINK_FAST, **kw})
    wait_until(lambda: sink.connected, 10, "the sink to connect")
    return sink


@pytest.mark.parametrize(("name", "expected"), [
    ("alice", "alice"),
    ("front-door_2", "front-door_2"),
    ("Alice", None), ("alice_0123abcd", None), (WEIRD_NAME, None), ("李小龙", None), ("a/b#+", None),
])
def test_slug_is_topic_safe_and_keeps_plain_names(name: str, expected: str | None) -> None:
    s = slug(name)
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", s)
    if expected is not None:
        assert s == expected
    else:
        assert re.search(r"_[0-9a-f]{8}$", s) and s != name
    assert slug(name) == s  # deterministic across restarts


def test_slugs_are_one_to_one() -> None:
    names = ["alice", "Alice", "alice_", "ALICE", "李小龙", "李小虎", "Zoë", "Zoe", "zoe", WEIRD_NAME]
    assert len({slug(n) for n in names}) == len(names)


@needs_mosquitto
def test_event_presence_and_discovery_payloads(broker: Mosquitto) -> None:
    sub = Subscriber(broker.port, ["facecam/#", "homeassistant/#"]).wait_subscribed()
    board = PresenceBoard(PresenceConfig())
    sink = connected_sink(broker.port, persons=["alice", WEIRD_NAME], cameras=["door"], presence=board)
    try:
        alert = make_alert(person=WEIRD_NAME, camera="door", snapshot="/var/lib/facecam/s.jpg")
        board.seen(WEIRD_NAME, "door", 0.0, alert.time)  # the pipeline's board names them before any sink sends
        sink.send(alert)
        wait_until(lambda: sub.on("facecam/door/events"), 5, "the event")
        [event] = sub.on("facecam/door/events")
        assert json.loads(event.payload) == alert.to_json_dict()
        assert event.qos == 1
        assert json.loads(event.payload)["person"] == WEIRD_NAME

        presence = sink.presence_topic(WEIRD_NAME)
        assert re.fullmatch(r"facecam/presence/[a-z0-9_-]+/state", presence)
        wait_until(lambda: [m.payload for m in sub.on(presence)][-1:] == [b"home"], 5, "presence home")
        wait_until(lambda: sub.on("facecam/door/last_person"), 5, "last person")
        assert sub.on("facecam/door/last_person")[-1].payload.decode() == WEIRD_NAME
        assert [m.payload for m in sub.on("facecam/availability")] == [b"online"]

        configs = {m.topic: json.loads(m.payload) for m in sub.messages if m.topic.startswith("homeassistant/")}
        _check_discovery(configs, persons=["alice", WEIRD_NAME], cameras=["door"], component="device_tracker")
    finally:
        sink.close()
        sub.close()
    assert not MARKER.exists()

    # a client arriving later gets the retained state, as Home Assistant does after a restart
    late = Subscriber(broker.port, ["facecam/#", "homeassistant/#"]).wait_subscribed()
    try:
        wait_until(lambda: late.on(presence) and late.on("facecam/availability"), 5, "retained messages")
        assert [(m.payload, m.retain) for m in late.on(presence)] == [(b"home", True)]
        assert [(m.payload, m.retain) for m in late.on("facecam/availability")] == [(b"offline", True)]
        assert late.on("facecam/door/last_person")[0].payload.decode() == WEIRD_NAME
        assert late.on("facecam/door/events") == []  # events are not retained
        assert len([m for m in late.messages if m.topic.startswith("homeassistant/")]) == 3
    finally:
        late.close()


def _check_discovery(configs: dict[str, dict], persons: list[str], cameras: list[str], component: str) -> None:
    """Every config has the keys Home Assistant's MQTT discovery schema requires for its component."""
    topic_re = re.compile(r"homeassistant/(device_tracker|binary_sensor|sensor|camera)/[A-Za-z0-9_-]+/"
                          r"[A-Za-z0-9_-]+/config")
    assert all(topic_re.fullmatch(t) for t in configs), list(configs)
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    for cfg in configs.values():
        assert cfg["availability_topic"] == "facecam/availability"
        assert (cfg["payload_available"], cfg["payload_not_available"]) == ("online", "offline")
        assert cfg["device"]["identifiers"] and cfg["device"]["name"]
    people = {c["name"]: c for t, c in configs.items() if t.startswith(f"homeassistant/{component}/")}
    assert sorted(people) == sorted(persons)  # exact names, weird ones included
    for name, cfg in people.items():
        assert cfg["state_topic"] == f"facecam/presence/{slug(name)}/state"
        if component == "device_tracker":
            assert (cfg["payload_home"], cfg["payload_not_home"]) == ("home", "not_home")
        else:
            assert cfg["device_class"] == "presence"
            assert (cfg["payload_on"], cfg["payload_off"]) == ("home", "not_home")
    sensors = [c for t, c in configs.items() if t.startswith("homeassistant/sensor/")]
    assert sorted(c["state_topic"] for c in sensors) == sorted(f"facecam/{slug(c)}/last_person" for c in cameras)


@needs_mosquitto
def test_binary_sensor_presence_snapshot_camera_and_away(broker: Mosquitto, tmp_path: Path) -> None:
    jpeg = tmp_path / "snap.jpg"
    jpeg.write_bytes(b"\xff\xd8not really a jpeg\xff\xd9")
    sub = Subscriber(broker.port, ["facecam/#", "homeassistant/#"]).wait_subscribed()
    board = PresenceBoard(PresenceConfig(away_after_s=1.5))
    sink = connected_sink(broker.port, presence_component="binary_sensor", snapshot=True, presence=board)
    try:
        now = dt.datetime.now(dt.UTC)
        board.seen("bob", "garden", 0.0, now)
        sink.send(make_alert(person="bob", camera="garden", snapshot=str(jpeg), when=now))
        sink.send(make_alert(person=UNKNOWN, camera="garden", n=1))
        wait_until(lambda: len(sub.on("facecam/garden/events")) == 2, 5, "two events")
        assert [json.loads(m.payload)["known"] for m in sub.on("facecam/garden/events")] == [True, False]
        wait_until(lambda: sub.on("facecam/garden/snapshot"), 5, "the snapshot")
        assert sub.on("facecam/garden/snapshot")[0].payload == jpeg.read_bytes()
        # the board says bob left after away_after_s of the camera's clock; the left alert publishes it
        [gone] = board.tick("garden", 1.5, now)
        sink.send(make_alert(person="bob", camera="garden", n=2, kind=AlertKind.LEFT))
        wait_until(lambda: [m.payload for m in sub.on("facecam/presence/bob/state")] == [b"home", b"not_home"],
                   5, "bob home then not_home")
        assert gone.person == "bob" and not gone.home
        assert not [m for m in sub.messages if "presence/unknown" in m.topic]
        configs = {m.topic: json.loads(m.payload) for m in sub.messages if m.topic.startswith("homeassistant/")}
        _check_discovery(configs, persons=["bob"], cameras=["garden"], component="binary_sensor")
        [cam] = [c for t, c in configs.items() if t.startswith("homeassistant/camera/")]
        assert cam["topic"] == "facecam/garden/snapshot"
    finally:
        sink.close()
        sub.close()


@needs_mosquitto
def test_send_fails_fast_when_the_broker_is_down(tmp_path: Path) -> None:
    dead = Mosquitto(tmp_path)  # a free port nobody listens on
    sink = MqttSink("127.0.0.1", dead.port, **SINK_FAST)
    try:
        t0 = time.monotonic()
        with pytest.raises(AlertDeliveryError, match="not connected"):
            sink.send(make_alert())
        assert time.monotonic() - t0 < 0.2
    finally:
        sink.close()


@needs_mosquitto
def test_last_will_reports_offline_when_facecam_is_killed(broker: Mosquitto, tmp_path: Path) -> None:
    sub = Subscriber(broker.port, ["facecam/availability"]).wait_subscribed()
    proc = subprocess.Popen([sys.executable, "-m", "tests.alerts_producer", str(tmp_path / "o.sqlite3"),
                             "--port", str(broker.port), "--count", "1", "--wait-connected"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "QUEUED"
        assert proc.stdout.readline().strip() == "CONNECTED"
        wait_until(lambda: [m.payload for m in sub.on("facecam/availability")] == [b"online"], 5, "online")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    try:
        wait_until(lambda: [m.payload for m in sub.on("facecam/availability")] == [b"online", b"offline"],
                   5, "the last will")
    finally:
        sub.close()


def _assert_exactly_once(sub: Subscriber, expected: list[str]) -> Counter:
    wait_until(lambda: set(sub.event_ids()) >= set(expected), 30, f"all {len(expected)} alerts")
    time.sleep(1.0)  # room for a stray duplicate to show up
    counts = Counter(sub.event_ids())
    assert counts == Counter(expected), {k: v for k, v in counts.items() if v != 1}
    return counts


@needs_mosquitto
def test_broker_outage_delivers_every_alert_exactly_once(durable_broker: Mosquitto, tmp_path: Path) -> None:
    b = durable_broker
    sub = Subscriber(b.port, ["facecam/+/events"], client_id="outage-sub", clean_session=False).wait_subscribed()
    sink = connected_sink(b.port)
    outbox = Outbox(tmp_path / "outbox.sqlite3", [sink], base_delay_s=0.05, max_delay_s=0.5)
    try:
        before = [make_alert(alert_id=f"up-{i}", n=i) for i in range(2)]
        for a in before:
            outbox.send(a)
        wait_until(lambda: len(sub.event_ids()) == 2, 5, "deliveries while up")

        b.stop()
        wait_until(lambda: not sink.connected, 5, "the sink to notice the outage")
        during = [make_alert(person=WEIRD_NAME if i % 4 == 0 else f"p{i}", alert_id=f"down-{i}", n=10 + i)
                  for i in range(12)]
        for a in during:
            outbox.send(a)
        for a in during[:3]:
            outbox.send(a)  # the pipeline resending an id changes nothing
        time.sleep(1.0)  # several failed attempts with backoff
        assert outbox.stats()[0].queued == 12
        assert outbox.stats()[0].last_error

        b.start()
        counts = _assert_exactly_once(sub, [a.id for a in before + during])
        assert sub.event_ids()[2:] == [a.id for a in during]  # in order
        wait_until(lambda: outbox.stats()[0].queued == 0, 5, "the outbox to record the deliveries")
        print(f"outage: {len(counts)} distinct alerts, {sum(counts.values())} messages received")
    finally:
        outbox.close()
        sub.close()


@needs_mosquitto
def test_kill_9_during_outage_then_restart_delivers_exactly_once(durable_broker: Mosquitto,
                                                                 tmp_path: Path) -> None:
    b = durable_broker
    db = tmp_path / "outbox.sqlite3"
    sub = Subscriber(b.port, ["facecam/+/events"], client_id="kill9-sub", clean_session=False).wait_subscribed()
    b.stop()

    def producer(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tests.alerts_producer", str(db), "--port", str(b.port),
                                 *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    first = producer("--first", "0", "--count", "10")
    try:
        assert first.stdout.readline().strip() == "QUEUED"
        time.sleep(0.5)  # its worker is retrying against the dead broker
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    assert read_stats(db)[0].queued == 10

    # the restarted facecam re-sends 5..9 (ignored: same ids) and adds 10..11, then the broker returns
    second = producer("--first", "5", "--count", "7", "--drain")
    try:
        assert second.stdout.readline().strip() == "QUEUED"
        time.sleep(0.3)
        b.start()
        assert second.stdout.readline().strip() == "DRAINED"
        assert second.wait(30) == 0
        counts = _assert_exactly_once(sub, [f"k9-{i}" for i in range(12)])
        print(f"kill -9: {len(counts)} distinct alerts, {sum(counts.values())} messages received")
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(10)
        sub.close()
    assert read_stats(db)[0].queued == 0
    assert not MARKER.exists()


@needs_mosquitto
def test_unacknowledged_publish_is_not_repeated_by_the_retry(broker: Mosquitto, tmp_path: Path) -> None:
    """A frozen broker takes the PUBLISH but sends no PUBACK: the outbox retries, and the retry must
    wait for the copy already in flight instead of publishing a second one (regression: duplicates)."""
    sub = Subscriber(broker.port, ["facecam/+/events"]).wait_subscribed()
    sink = connected_sink(broker.port)
    outbox = Outbox(tmp_path / "outbox.sqlite3", [sink], base_delay_s=0.05, max_delay_s=0.3)
    try:
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            alerts = [make_alert(alert_id=f"frozen-{i}", n=i) for i in range(5)]
            for a in alerts:
                outbox.send(a)
            wait_until(lambda: (outbox.stats()[0].last_error or "").find("no PUBACK") >= 0, 10,
                       "a PUBACK timeout")
            time.sleep(1.5)  # more retries of the same alert while the broker is frozen
            assert outbox.stats()[0].queued == 5
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        _assert_exactly_once(sub, [a.id for a in alerts])
        assert sub.event_ids() == [a.id for a in alerts]
    finally:
        outbox.close()
        sub.close()


@needs_mosquitto
def test_username_and_password_and_the_refusal_reason(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd missing: apt-get install -y mosquitto")
    subprocess.run([tool, "-b", "-c", str(passwd), "facecam", "s3cret"], check=True, capture_output=True)
    b = Mosquitto(tmp_path, password_file=passwd).start()
    wrong = MqttSink("127.0.0.1", b.port, username="facecam", password="nope", **SINK_FAST)
    try:
        def refused() -> bool:
            try:
                wrong.send(make_alert())
            except AlertDeliveryError as e:
                return "refused" in str(e)
            return False
        wait_until(refused, 10, "the refusal to be reported")
        with pytest.raises(AlertDeliveryError, match=r"not connected .* refused the last attempt: Not authorized"):
            wrong.send(make_alert())
        right = connected_sink(b.port, username="facecam", password="s3cret")
        right.send(make_alert())
        right.close()
    finally:
        wrong.close()
        b.stop()
