"""Desktop sink against a real dbus-daemon and a jeepney notification server on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from camera.alerts.sinks.desktop import DesktopSink, format_notification
from camera.errors import AlertDeliveryError
from camera.types import UNKNOWN
from tests.alerts_support import MARKER, WEIRD_NAME, NotificationServer, SessionBus, make_alert, needs_dbus


@pytest.fixture
def bus(tmp_path: Path):
    b = SessionBus(tmp_path)
    yield b
    b.close()


@needs_dbus
def test_notification_carries_the_exact_name(bus: SessionBus, tmp_path: Path) -> None:
    server = NotificationServer(bus.address)
    jpeg = tmp_path / "snap.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xd9")
    sink = DesktopSink(bus_address=bus.address)
    try:
        sink.send(make_alert(person=WEIRD_NAME, camera="door", snapshot=str(jpeg)))
        sink.send(make_alert(person=UNKNOWN, camera="door"))
    finally:
        sink.close()
        server.close()
    (app, replaces, icon, summary, body, actions, hints, expire), unknown = server.calls
    assert (app, replaces, icon, actions, expire) == ("facecam", 0, "camera-web", [], -1)
    assert summary == f"{WEIRD_NAME} at door"
    assert WEIRD_NAME in body
    assert hints["urgency"] == ("y", 1)
    assert hints["image-path"] == ("s", jpeg.as_uri())
    assert unknown[3] == "Unknown person at door"
    assert unknown[6]["urgency"] == ("y", 2)
    assert not MARKER.exists()


@needs_dbus
def test_body_is_escaped_only_for_servers_that_render_markup(bus: SessionBus, monkeypatch) -> None:
    server = NotificationServer(bus.address, capabilities=("body", "body-markup"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)  # the default address source
    sink = DesktopSink()
    try:
        sink.send(make_alert(person="<b>Bob</b> & co", camera="door"))
    finally:
        sink.close()
        server.close()
    [call] = server.calls
    assert call[3] == "<b>Bob</b> & co at door"  # the summary is plain text by specification
    assert "&lt;b&gt;Bob&lt;/b&gt; &amp; co" in call[4]


@needs_dbus
def test_missing_server_raises_delivery_error_and_recovers(bus: SessionBus) -> None:
    sink = DesktopSink(bus_address=bus.address, timeout_s=2)
    try:
        with pytest.raises(AlertDeliveryError, match="ServiceUnknown|NameHasNoOwner"):
            sink.send(make_alert())
        server = NotificationServer(bus.address)  # the desktop session comes up later
        try:
            sink.send(make_alert(person="alice"))
            assert server.calls[0][3] == "alice at door"
        finally:
            server.close()
    finally:
        sink.close()


def test_no_bus_address_is_a_delivery_error(monkeypatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    with pytest.raises(AlertDeliveryError, match="DBUS_SESSION_BUS_ADDRESS"):
        DesktopSink().send(make_alert())


@pytest.mark.parametrize(("person", "markup", "summary", "in_body"), [
    ("alice", False, "alice at door", "alice was seen"),
    (UNKNOWN, False, "Unknown person at door", "unknown face"),
    ("a<b>&", True, "a<b>& at door", "a&lt;b&gt;&amp;"),
    ("a<b>&", False, "a<b>& at door", "a<b>&"),
])
def test_format_notification(person: str, markup: bool, summary: str, in_body: str) -> None:
    s, body = format_notification(make_alert(person=person, camera="door"), markup)
    assert s == summary and in_body in body
