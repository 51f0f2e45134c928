"""A hostile person name goes through the outbox to MQTT, desktop and stream intact and inert.

The name has quotes, a newline, command substitution and backticks (which
would create ``MARKER`` if anything ran them through a shell), ``;``, MQTT
wildcards and a topic separator, and non-Latin letters. Every sink must carry
it byte for byte in its payload; topics use the slug.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from camera.alerts.outbox import Outbox
from camera.alerts.sinks.desktop import DesktopSink
from camera.alerts.sinks.mqtt import MqttSink, slug
from camera.alerts.sinks.stream import StreamSink
from tests.alerts_support import (
    MARKER,
    WEIRD_NAME,
    Mosquitto,
    NotificationServer,
    SessionBus,
    Subscriber,
    make_alert,
    needs_dbus,
    needs_mosquitto,
    wait_until,
)


@needs_mosquitto
@needs_dbus
def test_hostile_name_reaches_every_sink_exactly(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    bus = SessionBus(tmp_path)
    server = NotificationServer(bus.address)
    sub = Subscriber(broker.port, ["facecam/#", "homeassistant/#"]).wait_subscribed()
    mqtt = MqttSink("127.0.0.1", broker.port, publish_timeout_s=2)
    wait_until(lambda: mqtt.connected, 10, "the MQTT sink")
    stream = StreamSink(tmp_path / "events.sock")
    outbox = Outbox(tmp_path / "outbox.sqlite3", [mqtt, DesktopSink(bus_address=bus.address), stream],
                    base_delay_s=0.05, max_delay_s=0.2)
    reader = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        reader.settimeout(5)
        reader.connect(str(stream.path))
        wait_until(lambda: stream.client_count == 1, 5, "the stream client")
        alert = make_alert(person=WEIRD_NAME, camera="door")
        outbox.send(alert)
        wait_until(lambda: all(s.queued == 0 for s in outbox.stats()), 10, "delivery to all three sinks")

        # the broker acknowledged the publish; its copy to our subscriber may still be in flight
        wait_until(lambda: sub.on("facecam/door/events"), 5, "the event at the subscriber")
        [event] = sub.on("facecam/door/events")
        assert json.loads(event.payload)["person"] == WEIRD_NAME
        presence = f"facecam/presence/{slug(WEIRD_NAME)}/state"
        assert re.fullmatch(r"facecam/presence/[a-z0-9_-]+/state", presence)
        wait_until(lambda: sub.on(presence), 5, "presence")
        tracker = [json.loads(m.payload) for m in sub.messages if m.topic.startswith("homeassistant/device_tracker/")]
        assert [c["name"] for c in tracker] == [WEIRD_NAME]

        [call] = server.calls
        assert call[3] == f"{WEIRD_NAME} at door" and WEIRD_NAME in call[4]

        line = b""
        while not line.endswith(b"\n"):
            line += reader.recv(4096)
        assert line.count(b"\n") == 1  # the newline in the name is escaped inside the JSON line
        assert json.loads(line)["person"] == WEIRD_NAME
    finally:
        reader.close()
        outbox.close()
        sub.close()
        server.close()
        bus.close()
        broker.stop()
    assert not MARKER.exists()
