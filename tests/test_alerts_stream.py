"""The local Unix-socket event stream: JSON lines to every client, private socket, robust to bad readers."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from camera.alerts.sinks.stream import StreamPathError, StreamSink
from tests.alerts_support import WEIRD_NAME, make_alert, wait_until


def connect(path: Path) -> socket.socket:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(str(path))
    return c


def read_lines(c: socket.socket, n: int) -> list[dict]:
    buf = b""
    while buf.count(b"\n") < n:
        chunk = c.recv(65536)
        assert chunk, "stream closed early"
        buf += chunk
    return [json.loads(line) for line in buf.decode().splitlines()]


def test_every_client_gets_each_alert_as_one_json_line(tmp_path: Path) -> None:
    path = tmp_path / "events.sock"
    sink = StreamSink(path)
    try:
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        clients = [connect(path), connect(path)]
        wait_until(lambda: sink.client_count == 2, 5, "two clients")
        alerts = [make_alert(person=WEIRD_NAME), make_alert(person="bob", n=1)]
        for a in alerts:
            sink.send(a)
        for c in clients:
            assert read_lines(c, 2) == [a.to_json_dict() for a in alerts]
            c.close()
    finally:
        sink.close()
    assert not path.exists()


def test_gone_and_stuck_clients_are_dropped_without_blocking(tmp_path: Path) -> None:
    sink = StreamSink(tmp_path / "events.sock", send_timeout_s=0.2)
    try:
        gone, stuck, good = connect(sink.path), connect(sink.path), connect(sink.path)
        wait_until(lambda: sink.client_count == 3, 5, "three clients")
        gone.close()
        sink.send(make_alert())
        wait_until(lambda: sink.client_count == 2, 5, "the closed client to be dropped")
        good.close()
        big = make_alert(person="x" * 50_000)
        for _ in range(200):  # fills the never-reading client's socket buffer
            sink.send(big)
            if sink.client_count == 0:
                break
        assert sink.client_count == 0
        stuck.close()
    finally:
        sink.close()


def test_stale_socket_is_replaced_but_live_one_and_files_are_not(tmp_path: Path) -> None:
    path = tmp_path / "events.sock"
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(str(path))
    crashed.close()  # the file stays, nobody listens: what a kill -9 leaves
    sink = StreamSink(path)
    try:
        with pytest.raises(StreamPathError, match="another process"):
            StreamSink(path)
    finally:
        sink.close()
    regular = tmp_path / "notes.txt"
    regular.write_text("keep me")
    with pytest.raises(StreamPathError, match="not a socket"):
        StreamSink(regular)
    assert regular.read_text() == "keep me"


@pytest.mark.parametrize(("mode", "error"), [(0o660, None), (0o666, "0o600 or 0o660"), (0o777, "0o600 or 0o660")])
def test_socket_mode_is_private_or_group_only(tmp_path: Path, mode: int, error: str | None) -> None:
    path = tmp_path / "events.sock"
    if error:
        with pytest.raises(ValueError, match=error):
            StreamSink(path, mode=mode)
        return
    sink = StreamSink(path, mode=mode)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == mode
    finally:
        sink.close()
