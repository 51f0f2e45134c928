"""The local event stream against hostile clients: silent connections never lock a real reader out.

Regression: 40 clients that never read held all 32 slots for good and a real reader was refused.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from camera.alerts.sinks.stream import StreamSink
from tests.alerts_support import make_alert, wait_until
from tests.test_alerts_stream import connect, read_lines


def test_forty_silent_clients_do_not_lock_out_a_reader(tmp_path: Path) -> None:
    sink = StreamSink(tmp_path / "s.sock", max_clients=32, send_timeout_s=0.5)
    silent = []
    try:
        for _ in range(40):
            silent.append(connect(tmp_path / "s.sock"))
        wait_until(lambda: sink.client_count == 32, 5, "32 clients")
        wait_until(lambda: sink.accepted == 40, 5, "40 connections accepted")
        reader = connect(tmp_path / "s.sock")
        wait_until(lambda: sink.accepted == 41, 5, "the reader to take a silent client's slot")
        assert sink.client_count == 32
        alert = make_alert(person="alice")
        sink.send(alert)
        assert read_lines(reader, 1)[0]["id"] == alert.id
    finally:
        for c in silent:
            c.close()
        sink.close()


def test_a_client_that_stops_reading_is_dropped_before_the_slots_fill(tmp_path: Path) -> None:
    sink = StreamSink(tmp_path / "s.sock", max_clients=32, send_timeout_s=0.3)
    try:
        mute = connect(tmp_path / "s.sock")
        reader = connect(tmp_path / "s.sock")
        wait_until(lambda: sink.client_count == 2, 5, "two clients")
        sink.send(make_alert(person="bob"))  # the mute client leaves it unread
        assert read_lines(reader, 1)[0]["person"] == "bob"
        t0 = time.monotonic()
        wait_until(lambda: sink.client_count == 1, 5, "the mute client to be dropped")
        assert time.monotonic() - t0 < 2.0
        mute.settimeout(2)
        data = b""
        while chunk := mute.recv(65536):  # it gets what was sent, then the end of the stream
            data += chunk
        assert data.count(b"\n") == 1
    finally:
        sink.close()
        for c in (locals().get("mute"), locals().get("reader")):
            if isinstance(c, socket.socket):
                c.close()
