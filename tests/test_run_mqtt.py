"""`facecam run` on the hamilton clip delivers its alerts to a real mosquitto broker, via the outbox."""

from __future__ import annotations

import json
import sqlite3

from tests.alerts_support import Mosquitto, Subscriber, needs_mosquitto, wait_until
from tests.conftest import AGEITGEY, HAMILTON, facecam


@needs_mosquitto
def test_hamilton_alerts_reach_mqtt_and_home_assistant(tmp_path):
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker").start()
    sub = Subscriber(broker.port, ["facecam/#", "homeassistant/#"]).wait_subscribed()
    try:
        data = tmp_path / "data"
        for name in ("lin_manuel_miranda", "alex_lacamoire"):
            r = facecam("enroll", "--data-dir", str(data), name, *map(str, (AGEITGEY / "identities" / name).iterdir()))
            assert r.returncode == 0, r.stderr
        config = tmp_path / "facecam.toml"
        config.write_text(f"""
[alerts]
jsonl = "{tmp_path / 'alerts.jsonl'}"
[[alerts.mqtt]]
port = {broker.port}
""")
        r = facecam("run", "--config", str(config), "--data-dir", str(data), "--source", str(HAMILTON),
                    "--camera", "hall", timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        local = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
        assert any(a["person"] == "lin_manuel_miranda" for a in local)
        wait_until(lambda: len(sub.on("facecam/hall/events")) >= len(local), 10, "events on MQTT")
        events = [json.loads(m.payload) for m in sub.on("facecam/hall/events")]
        assert sorted(e["id"] for e in events) == sorted(a["id"] for a in local)  # each once, same payload
        assert {e["id"]: e for e in events} == {a["id"]: a for a in local}
        configs = {m.topic: json.loads(m.payload) for m in list(sub.messages) if m.topic.startswith("homeassistant/") and m.payload}
        tracker = [c for t, c in configs.items() if "lin_manuel_miranda" in t]
        assert tracker and {"name", "unique_id", "state_topic", "availability_topic", "device"} <= set(tracker[0])
        presence = [m.payload.decode() for m in sub.on("facecam/presence/lin_manuel_miranda/state")]
        assert presence and presence[-1] == "home"
        with sqlite3.connect(data / "outbox.sqlite3") as db:  # every alert stored, delivered to both sinks
            assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == len(local)
    finally:
        sub.close()
        broker.stop()


@needs_mosquitto
def test_presence_reads_home_then_not_home_and_a_left_alert_never_marks_anyone_home(tmp_path):
    """Regression: the MQTT sink kept its own presence (its own away_after_s, ignoring the alert's kind), so a
    ``left`` alert published ``home``. Now the pipeline's one presence board decides for every sink.

    With ``away_after_s = 1`` lin_manuel_miranda arrives and leaves twice on the hamilton clip (his two
    appearances are 2 s apart, and the clip ends 2 s after the second; the dlib engine's HOG, which sees no
    one in the audience shots that follow, so nothing keeps his track alive).
    """
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker").start()
    topic = "facecam/presence/lin_manuel_miranda/state"
    sub = Subscriber(broker.port, [topic, "facecam/hall/events"]).wait_subscribed()
    try:
        data = tmp_path / "data"
        config = tmp_path / "facecam.toml"
        config.write_text(f"[engine]\nname = \"dlib\"\n[presence]\naway_after_s = 1.0\n[alerts]\ncooldown_s = 1.0\n"
                          f"[[alerts.mqtt]]\nport = {broker.port}\n")
        r = facecam("enroll", "--config", str(config), "--data-dir", str(data), "lin_manuel_miranda",
                    *map(str, (AGEITGEY / "identities" / "lin_manuel_miranda").iterdir()))
        assert r.returncode == 0, r.stderr
        r = facecam("run", "--config", str(config), "--data-dir", str(data), "--source", str(HAMILTON),
                    "--camera", "hall", timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        wait_until(lambda: sum(json.loads(m.payload)["kind"] == "left" for m in sub.on("facecam/hall/events")) >= 2,
                   10, "two left alerts on MQTT")
        kinds = [json.loads(m.payload)["kind"] for m in sub.on("facecam/hall/events")
                 if json.loads(m.payload)["person"] == "lin_manuel_miranda"]
        assert kinds == ["arrived", "left", "arrived", "left"]
        wait_until(lambda: [m.payload for m in sub.on(topic)][-1:] == [b"not_home"], 10, "not_home at the end")
        states = [m.payload.decode() for m in sub.on(topic)]
        changes = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
        assert changes == ["not_home", "home", "not_home", "home", "not_home"], states
    finally:
        sub.close()
        broker.stop()
