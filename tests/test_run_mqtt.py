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
