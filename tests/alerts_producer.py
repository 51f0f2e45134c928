"""A facecam-like producer process for the kill -9 tests: ``python -m tests.alerts_producer``.

Opens ``Outbox(DB, [sink])``, queues alerts ``k9-FIRST`` … ``k9-(FIRST+COUNT-1)``
(every third one for :data:`WEIRD_NAME`), prints ``QUEUED``, then either waits
to be killed, or with ``--drain`` waits until the outbox is empty, prints
``DRAINED`` and closes cleanly. ``--sink failing`` uses a sink that always
fails (no broker needed); ``--sink mqtt`` a real :class:`MqttSink`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from camera.alerts.outbox import Outbox
from camera.alerts.sinks.mqtt import MqttSink
from camera.errors import AlertDeliveryError
from camera.types import Alert
from tests.alerts_support import WEIRD_NAME, make_alert


class FailingSink:
    """Refuses every alert, like a sink whose network is down."""

    name = "failing"

    def send(self, alert: Alert) -> None:
        raise AlertDeliveryError("network is down")

    def close(self) -> None:
        pass


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("db")
    p.add_argument("--sink", choices=["mqtt", "failing"], default="mqtt")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--drain", action="store_true")
    p.add_argument("--wait-connected", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    sink = (MqttSink("127.0.0.1", a.port, publish_timeout_s=1.0, reconnect_min_s=0.2, reconnect_max_s=0.5)
            if a.sink == "mqtt" else FailingSink())
    outbox = Outbox(a.db, [sink], base_delay_s=0.05, max_delay_s=0.5)
    for i in range(a.first, a.first + a.count):
        outbox.send(make_alert(person=WEIRD_NAME if i % 3 == 0 else f"person{i}", alert_id=f"k9-{i}", n=i))
    print("QUEUED", flush=True)
    if a.wait_connected:
        while not (isinstance(sink, MqttSink) and sink.connected):
            time.sleep(0.02)
        print("CONNECTED", flush=True)
    if not a.drain:
        while True:
            time.sleep(1)
    deadline = time.monotonic() + 60
    while outbox.stats()[0].queued and time.monotonic() < deadline:
        time.sleep(0.05)
    print("DRAINED" if not outbox.stats()[0].queued else "NOT DRAINED", flush=True)
    outbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
