"""Alert sinks: JSON lines, a command (argv, never a shell) and a webhook against a real local HTTP server."""

import datetime as dt
import http.server
import json
import sys
import threading

import pytest

from camera.alerts.sinks.command import CommandSink
from camera.alerts.sinks.jsonl import JsonlSink
from camera.alerts.sinks.webhook import WebhookSink
from camera.errors import AlertDeliveryError
from camera.types import Alert

ODD = "Zoë \"Z\" O'Brien; $(touch PWNED) `id` {camera}\n李小龙"


def _alert(person=ODD, snapshot=None):
    return Alert("a1b2", "front_door", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), person, 0.4213,
                 (10.0, 20.0, 110.0, 140.0), snapshot)


def test_jsonl_file_appends_and_keeps_names_intact(tmp_path):
    path = tmp_path / "alerts.jsonl"
    path.write_text('{"earlier": true}\n')
    sink = JsonlSink(path)
    sink.send(_alert())
    sink.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"earlier": True}
    got = json.loads(lines[1])
    assert got == {"id": "a1b2", "kind": "recognised", "camera": "front_door", "time": "2026-01-02T03:04:05Z",
                   "person": ODD, "known": True, "distance": 0.4213, "box": [10.0, 20.0, 110.0, 140.0],
                   "snapshot": None}


def test_jsonl_unwritable_path_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(AlertDeliveryError, match="cannot open"):
        JsonlSink(tmp_path / "f" / "alerts.jsonl")


def test_command_gets_name_as_one_argument_and_in_env(tmp_path):
    record = tmp_path / "record.json"
    script = ("import json, os, sys; json.dump({'argv': sys.argv[1:], 'person': os.environ['FACECAM_PERSON'], "
              "'stdin': json.load(sys.stdin)}, open(sys.argv[1], 'w'))")
    sink = CommandSink([sys.executable, "-c", script, str(record), "{person}", "at {camera}", "{distance}"])
    sink.send(_alert())
    got = json.loads(record.read_text())
    assert got["argv"] == [str(record), ODD, "at front_door", "0.4213"]  # {camera} inside the name stays literal
    assert got["person"] == ODD and got["stdin"]["person"] == ODD
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["/no/such/program"], "not found"), ([sys.executable, "-c", "import sys; sys.exit(3)"], "exited with 3"),
     ([sys.executable, "-c", "import time; time.sleep(5)"], "ran past 0.5 s")],
)
def test_command_failures(argv, message):
    with pytest.raises(AlertDeliveryError, match=message):
        CommandSink(argv, timeout_s=0.5).send(_alert())


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Hook.received, _Hook.fail_first = [], 0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()


def test_webhook_posts_json_and_retries_5xx(server):
    _Hook.fail_first = 2
    WebhookSink(server, timeout_s=2, retries=3, backoff_s=0.01).send(_alert())
    (ctype, body), = _Hook.received
    assert ctype.startswith("application/json") and body["person"] == ODD and body["id"] == "a1b2"


def test_webhook_gives_up_after_retries(server):
    _Hook.fail_first = 10
    with pytest.raises(AlertDeliveryError, match="HTTP 503"):
        WebhookSink(server, timeout_s=2, retries=2, backoff_s=0.01).send(_alert())
    assert _Hook.fail_first == 7  # one attempt plus two retries


def test_webhook_nothing_listening():
    with pytest.raises(AlertDeliveryError, match="POST http://127.0.0.1:9/"):
        WebhookSink("http://127.0.0.1:9/x", timeout_s=1, retries=1, backoff_s=0.01).send(_alert())
    with pytest.raises(ValueError, match="http:// or https://"):
        WebhookSink("file:///etc/passwd")
