"""`facecam run` against a real mosquitto that is stopped, frozen (SIGSTOP) and restarted while alerts flow.

The daemon plays the hamilton clip in a loop (an alert every 2-3 s) with an
MQTT sink and a JSONL sink; a subscriber with a persistent session records
every event id. The person is enrolled under a name holding a terminal escape
and a newline: the log shows it escaped on one line, payloads carry it exactly.
Each fault waits until the outbox holds at least one alert it
could not deliver, then ends the fault and waits until that queue is empty
again. Afterwards: every id the outbox accepted reached the subscriber (lost
0), duplicates are counted (at least once allows them), nothing is queued,
and every SQLite file of the data directory passes ``integrity_check``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from camera.gallery.store import Gallery
from tests.alerts_support import Mosquitto, Subscriber, needs_mosquitto
from tests.reliability.support import (
    FAST_OUTBOX,
    FAST_VISITS,
    Accounting,
    Daemon,
    accepted_ids,
    assert_databases_intact,
    poll,
    sink_stats,
)

FORGED = "2026-01-01 00:00:00,000 ERROR camera: forged line"
#: lin_manuel_miranda enrolled under a name with a terminal escape and a newline that would forge a log line
NAME = f"lin\x1b[31m\n{FORGED}"


@needs_mosquitto
def test_broker_stopped_frozen_and_restarted_during_a_run_loses_no_alert(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker", persistence=True).start()
    sub = Subscriber(broker.port, ["facecam/+/events"], client_id="faults-sub", clean_session=False)
    sub.wait_subscribed()
    alerts = tmp_path / "alerts.jsonl"
    config = tmp_path / "facecam.toml"
    config.write_text(f'{FAST_VISITS}jsonl = "{alerts}"\n{FAST_OUTBOX}'
                      f"[[alerts.mqtt]]\nport = {broker.port}\npublish_timeout_s = 1.0\n")
    outbox = data_dir / "outbox.sqlite3"
    with Gallery(data_dir) as g:  # names are data: this one must neither recolour nor forge a log line
        g.rename("lin_manuel_miranda", NAME)
    daemon = Daemon.looped_clip(data_dir, config, tmp_path / "run.log")
    seen: dict[str, float] = {}

    def queued() -> int:
        st = sink_stats(outbox, "mqtt")
        return st.queued if st else 0

    def held(because: str) -> bool:
        st = sink_stats(outbox, "mqtt")
        return st is not None and st.queued >= 1 and because in (st.last_error or "")

    def fault(name: str, begin: Callable[[], object], end: Callable[[], object], because: str) -> None:
        """Start the fault, wait for an alert it holds back, end it, wait for the queue to empty."""
        begin()
        try:
            poll(lambda: held(because), 45, f"an alert held back while the broker is {name}")
            assert daemon.running(), daemon.text()[-3000:]
        finally:
            end()
        seen[name] = poll(lambda: queued() == 0, 45, f"the queue to drain after the broker was {name}")

    try:
        poll(lambda: len(sub.event_ids()) >= 1, 90, "the first alert on MQTT")
        fault("stopped", broker.stop, broker.start, "")
        fault("frozen", lambda: os.kill(broker.proc.pid, signal.SIGSTOP),
              lambda: os.kill(broker.proc.pid, signal.SIGCONT), "no PUBACK")
        before = set(sub.event_ids())
        broker.stop()
        broker.start()  # restarted at once: a blip, then alerts flow again
        poll(lambda: bool(set(sub.event_ids()) - before) and queued() == 0, 45, "an alert after the restart")
        assert daemon.stop() == 0, daemon.text()[-3000:]
        log = daemon.text()
        assert "Traceback" not in log, log[-3000:]
        assert "\x1b" not in log and not any(line.startswith(FORGED) for line in log.splitlines()), log[-3000:]
        assert "visit of lin\\x1b[31m\\n2026-01-01" in log, log[-3000:]  # escaped, on one line

        accepted = accepted_ids(outbox, "mqtt")
        poll(lambda: set(accepted) <= set(sub.event_ids()), 20, "every accepted alert at the subscriber")
        time.sleep(1.0)  # room for a late duplicate
        acc = Accounting.of(accepted, sub.event_ids())
        print("\n" + acc.line("MQTT stopped, frozen and restarted") +
              f"; queue drained {seen['stopped']:.1f} s after the restart, {seen['frozen']:.1f} s after SIGCONT")
        assert acc.lost == [] and acc.strangers == [], acc
        assert acc.accepted >= 4
        local = [json.loads(line) for line in alerts.read_text().splitlines()]
        assert {a["id"] for a in local} == set(accepted)  # the JSONL sink beside it got the same alerts
        named = {json.loads(m.payload)["person"] for m in sub.messages} | {a["person"] for a in local}
        assert NAME in named and named <= {NAME, "unknown"}  # the exact name, byte for byte
        st = sink_stats(outbox, "mqtt")
        assert st is not None and (st.queued, st.gave_up) == (0, 0) and st.delivered == acc.accepted
        assert_databases_intact(data_dir, ["gallery.sqlite3", "events.sqlite3", "outbox.sqlite3"])
    finally:
        daemon.kill()
        sub.close()
        if broker.proc is not None and broker.proc.poll() is None:
            os.kill(broker.proc.pid, signal.SIGCONT)  # should an assertion have left it frozen
        broker.stop()
