"""The webhook sink against a misbehaving HTTP server on 127.0.0.1: redirects, hangs, drips, floods, resets.

Regressions: a 301/302/303 turned the POST into a body-less GET and the alert counted as delivered (4 of 4
lost); a 307 was retried forever; an endless reply grew the process to 2 GB; a byte a second stalled the sink
with no error; the failure log line carried the webhook's credentials.
"""

from __future__ import annotations

import json
import logging
import resource
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from camera.alerts.sinks.webhook import MAX_REPLY_BYTES, WebhookSink
from camera.errors import AlertDeliveryError
from tests.alerts_support import make_alert


class Hostile(BaseHTTPRequestHandler):
    """Behaves as the path says; records every request it got (method, path, body)."""

    got: list[tuple[str, str, bytes]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.got.append(("GET", self.path, b""))
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        self.got.append(("POST", self.path, body))
        kind = self.path.strip("/").split("/")[0]
        if kind in ("r301", "r302", "r303", "r307", "r308"):
            self.send_response(int(kind[1:]))
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "elsewhere":
            self.send_response(307)
            self.send_header("Location", "http://192.0.2.1/ok")  # another host (TEST-NET): never followed
            self.end_headers()
        elif kind == "loop":
            self.send_response(308)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif kind == "flood":  # a 200 with an endless body
            self.send_response(200)
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(100_000):
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif kind == "drip":  # the status line a byte a second
            for b in b"HTTP/1.1 200 OK\r\n\r\n":
                try:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(1)
        elif kind == "hang":
            time.sleep(30)
        elif kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")


@pytest.fixture()
def server() -> Iterator[str]:
    Hostile.got = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_would_drop_the_body_is_a_failed_delivery(server: str, status: int) -> None:
    with pytest.raises(AlertDeliveryError, match=f"HTTP {status} redirect to .*/ok.*set the webhook's url"):
        WebhookSink(f"{server}/r{status}", timeout_s=2, retries=0).send(make_alert())
    assert [m for m, _, _ in Hostile.got] == ["POST"]  # nothing was sent on as a GET


@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_are_followed_with_the_body(server: str, status: int) -> None:
    alert = make_alert()
    WebhookSink(f"{server}/r{status}", timeout_s=2, retries=0).send(alert)
    assert [(m, p) for m, p, _ in Hostile.got] == [("POST", f"/r{status}"), ("POST", "/ok")]
    assert json.loads(Hostile.got[1][2])["id"] == alert.id


@pytest.mark.parametrize(("path", "error"), [
    ("elsewhere", "redirect to another host"),
    ("loop", "more than 3 redirects"),
    ("drip", "longer than timeout_s"),
    ("hang", "timed out|longer than timeout_s"),
    ("reset", "reset|closed|Remote end|RemoteDisconnected|Connection"),
])
def test_hostile_servers_fail_the_attempt_within_its_deadline(server: str, path: str, error: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(AlertDeliveryError, match=error):
        WebhookSink(f"{server}/{path}", timeout_s=1.5, retries=0).send(make_alert())
    assert time.monotonic() - t0 < 4.0


def test_an_endless_reply_is_read_only_up_to_the_limit(server: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    WebhookSink(f"{server}/flood", timeout_s=5, retries=0).send(make_alert())  # a 200: delivered
    assert time.monotonic() - t0 < 5
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50 and MAX_REPLY_BYTES <= 1 << 20


def test_credentials_never_reach_the_log_or_the_error(server: str, caplog: pytest.LogCaptureFixture) -> None:
    url = server.replace("http://", "http://admin:hunter2@") + "/api/webhook/secret-hook-id?token=abc"
    url = url.replace("/api/webhook", "/r302/api/webhook")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AlertDeliveryError) as err:
        WebhookSink(url, timeout_s=2, retries=1, backoff_s=0.01).send(make_alert())
    text = str(err.value) + caplog.text
    for secret in ("hunter2", "secret-hook-id", "token=abc"):
        assert secret not in text
