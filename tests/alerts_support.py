"""Real services for the alert tests: a mosquitto broker, a paho subscriber, a
D-Bus session bus with a notification server, and alert factories.

Nothing here is faked: the broker and bus are the Debian binaries, started on
localhost / in a temporary folder with generated configs. Tests that need a
binary skip with the package to install when it is missing.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from jeepney import MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection
from jeepney.low_level import HeaderFields

from camera.errors import AlertDeliveryError
from camera.types import Alert, AlertKind

# A name that breaks naive quoting, shells, topics and markup; the command
# substitution would create MARKER if anything ever evaluated it.
MARKER = Path(tempfile.gettempdir()) / "facecam-inert-marker"
WEIRD_NAME = f"Zoë \"Z\" O'Brien; $(touch {MARKER}) `touch {MARKER}`\n李小龙 #+/"

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
DBUS_DAEMON = shutil.which("dbus-daemon")
needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto missing: apt-get install -y mosquitto")
needs_dbus = pytest.mark.skipif(DBUS_DAEMON is None, reason="dbus-daemon missing: apt-get install -y dbus-daemon")


def make_alert(person: str = "alice", camera: str = "door", n: int = 0, alert_id: str | None = None,
               when: dt.datetime | None = None, snapshot: str | None = None,
               kind: AlertKind = AlertKind.RECOGNISED) -> Alert:
    """A plausible alert; ``n`` offsets the time by seconds."""
    when = when or dt.datetime.now(dt.UTC).replace(microsecond=0)
    return Alert(id=alert_id or uuid.uuid4().hex, camera=camera, time=when + dt.timedelta(seconds=n),
                 person=person, distance=0.4123, box_xyxy=(10.0, 20.0, 110.0, 140.0), snapshot=snapshot, kind=kind)


class RecordingSink:
    """A sink that records what it got; fails its first ``fail_first`` calls; can be held."""

    def __init__(self, name: str = "rec", fail_first: int = 0, fail_ids: tuple[str, ...] = ()) -> None:
        self.name = name
        self.fail_first, self.fail_ids = fail_first, fail_ids
        self.got: list[Alert] = []
        self.attempt_times: list[float] = []
        self.release = threading.Event()
        self.release.set()
        self.closed = False

    def send(self, alert: Alert) -> None:
        self.attempt_times.append(time.monotonic())
        self.release.wait()
        if len(self.attempt_times) <= self.fail_first or alert.id in self.fail_ids:
            raise AlertDeliveryError("down")
        self.got.append(alert)

    def close(self) -> None:
        self.closed = True

    @property
    def ids(self) -> list[str]:
        return [a.id for a in self.got]


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``cond`` every 20 ms; fail the test with ``what`` after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A real broker on 127.0.0.1:``port``; ``persistence`` keeps sessions across stop/start;
    with ``password_file`` only its users may connect."""

    def __init__(self, folder: Path, persistence: bool = False, password_file: Path | None = None) -> None:
        self.folder, self.port = folder, free_port()
        self.conf = folder / "mosquitto.conf"
        auth = ["allow_anonymous false", f"password_file {password_file}"] if password_file else \
            ["allow_anonymous true"]
        lines = [f"listener {self.port} 127.0.0.1", *auth, f"user {getpass.getuser()}",
                 f"persistence {'true' if persistence else 'false'}", "log_dest stderr", "log_type all"]
        if persistence:
            lines.append(f"persistence_location {folder}/")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 - closed by the child's exit
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start; see {self.folder / 'mosquitto.log'}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM and wait: a clean stop (it saves its persistence file)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Subscriber:
    """A real paho client recording every message on ``topics`` (QoS 1)."""

    def __init__(self, port: int, topics: list[str], client_id: str | None = None,
                 clean_session: bool = True, username: str | None = None, password: str | None = None) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        self.topics = topics
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or uuid.uuid4().hex,
                                  clean_session=clean_session)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.subscribed = threading.Event()
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.2)  # type: ignore[arg-type]
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.subscribed.set()

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append(msg)

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def event_ids(self) -> list[str]:
        """Alert ids of every event received, duplicates included, in arrival order."""
        with self.lock:
            return [json.loads(m.payload)["id"] for m in self.messages if m.topic.endswith("/events")]

    def wait_subscribed(self, timeout_s: float = 10) -> Subscriber:
        if not self.subscribed.wait(timeout_s):
            pytest.fail("subscriber got no SUBACK")
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


DBUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class SessionBus:
    """A private dbus-daemon on a Unix socket in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.socket = folder / "bus"
        conf = folder / "session.conf"
        conf.write_text(DBUS_CONFIG.format(socket=self.socket))
        self.proc = subprocess.Popen([DBUS_DAEMON, f"--config-file={conf}", "--nofork", "--nosyslog"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(self.socket.exists, 10, "dbus-daemon's socket")
        self.address = f"unix:path={self.socket}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()


class NotificationServer:
    """Owns org.freedesktop.Notifications on the bus and records every Notify call's arguments."""

    def __init__(self, address: str, capabilities: tuple[str, ...] = ("body", "actions")) -> None:
        self.calls: list[tuple] = []
        self.capabilities = list(capabilities)
        self.conn = open_dbus_connection(address)
        reply = self.conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"),
                                             timeout=5)
        if reply.body[0] != 1:
            raise RuntimeError(f"could not own org.freedesktop.Notifications: {reply.body}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            if member == "GetCapabilities":
                self.conn.send(new_method_return(msg, "as", (self.capabilities,)))
            elif member == "Notify":
                self.calls.append(msg.body)
                self.conn.send(new_method_return(msg, "u", (len(self.calls),)))
            else:
                self.conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.conn.close()
