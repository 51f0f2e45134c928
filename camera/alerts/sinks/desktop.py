"""Desktop notifications over D-Bus (freedesktop.org Notifications), with jeepney.

Calls ``org.freedesktop.Notifications.Notify`` on a session bus: the one at
``bus_address`` (a D-Bus address such as ``unix:path=/run/user/1000/bus``) or
else ``$DBUS_SESSION_BUS_ADDRESS``. A session bus only accepts its own user,
so this sink works when facecam runs as the desktop user (a ``systemctl
--user`` service); a system service uses the stream sink and a user-side
client instead.

The summary carries the exact person name as plain text (the specification
never interprets markup there). The body repeats it; when the notification
server advertises ``body-markup`` the body is XML-escaped so a name like
``<b>`` shows as written. Nothing here passes through a shell.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from pathlib import Path
from xml.sax.saxutils import escape

from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.wrappers import DBusErrorResponse, unwrap_msg
from pydantic import Field

from camera.alerts.base import SinkContext
from camera.configmodel import ConfigModel
from camera.errors import AlertDeliveryError
from camera.types import UNKNOWN, Alert

log = logging.getLogger(__name__)

NOTIFICATIONS = DBusAddress("/org/freedesktop/Notifications", bus_name="org.freedesktop.Notifications",
                            interface="org.freedesktop.Notifications")
URGENCY_NORMAL, URGENCY_CRITICAL = 1, 2


def format_notification(alert: Alert, body_markup: bool = False,
                        tz: dt.tzinfo | None = None) -> tuple[str, str]:
    """``(summary, body)`` for ``alert``; times shown in ``tz`` (``None``: system zone)."""
    local = alert.time.astimezone(tz).strftime("%H:%M:%S")
    if alert.person == UNKNOWN:
        summary = f"Unknown person at {alert.camera}"
        body = f"An unknown face was seen by camera {alert.camera} at {local}."
    else:
        summary = f"{alert.person} at {alert.camera}"
        body = f"{alert.person} was seen by camera {alert.camera} at {local} (distance {alert.distance:.2f})."
    return summary, escape(body) if body_markup else body


class DesktopSink:
    """Shows each alert as a desktop notification.

    ``expire_ms`` is the display time in milliseconds (-1: the server's
    default, 0: until dismissed). ``timeout_s`` bounds each D-Bus call in
    seconds. Unknown faces are sent with critical urgency. The connection is
    opened on the first ``send`` and reopened after an error.
    """

    def __init__(self, *, name: str = "desktop", bus_address: str | None = None, app_name: str = "facecam",
                 app_icon: str = "camera-web", expire_ms: int = -1, timeout_s: float = 5.0) -> None:
        if expire_ms < -1:
            raise ValueError(f"expire_ms: expected -1, 0 or a positive number of ms, got {expire_ms}")
        self.name = name
        self._address = bus_address
        self._app_name, self._app_icon = app_name, app_icon
        self._expire_ms, self._timeout_s = expire_ms, timeout_s
        self._conn: DBusConnection | None = None
        self._markup = False

    def send(self, alert: Alert) -> None:
        """Show one notification; raise AlertDeliveryError when the bus or server is unavailable."""
        try:
            conn = self._connect()
            summary, body = format_notification(alert, self._markup)
            hints: dict[str, tuple[str, object]] = {
                "urgency": ("y", URGENCY_CRITICAL if alert.person == UNKNOWN else URGENCY_NORMAL)}
            if alert.snapshot and Path(alert.snapshot).is_absolute() and Path(alert.snapshot).is_file():
                hints["image-path"] = ("s", Path(alert.snapshot).as_uri())
            msg = new_method_call(NOTIFICATIONS, "Notify", "susssasa{sv}i",
                                  (self._app_name, 0, self._app_icon, summary, body, [], hints, self._expire_ms))
            notification_id = unwrap_msg(conn.send_and_get_reply(msg, timeout=self._timeout_s))[0]
        except (OSError, TimeoutError, RuntimeError, ValueError, DBusErrorResponse) as e:
            self._drop()
            raise AlertDeliveryError(f"{self.name}: notification for alert {alert.id} failed: "
                                     f"{type(e).__name__}: {e}") from e
        log.debug("%s: alert %s shown as notification %d", self.name, alert.id, notification_id)

    def close(self) -> None:
        """Close the bus connection."""
        self._drop()

    def _connect(self) -> DBusConnection:
        if self._conn is not None:
            return self._conn
        address = self._address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            raise RuntimeError("no session bus: set bus_address or DBUS_SESSION_BUS_ADDRESS")
        conn = open_dbus_connection(address, auth_timeout=self._timeout_s)
        try:
            caps = unwrap_msg(conn.send_and_get_reply(new_method_call(NOTIFICATIONS, "GetCapabilities"),
                                                      timeout=self._timeout_s))[0]
        except BaseException:
            conn.close()
            raise
        self._markup = "body-markup" in caps
        self._conn = conn
        log.info("%s: connected to the notification server (capabilities: %s)", self.name, ", ".join(caps))
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None


class DesktopSinkConfig(ConfigModel):
    """freedesktop notifications on the session D-Bus."""

    name: str = Field("desktop", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="sink name, used by rules")
    bus_address: str | None = Field(None, description="D-Bus address (default $DBUS_SESSION_BUS_ADDRESS)")
    expire_ms: int = Field(-1, ge=-1, le=3_600_000, description="-1 server default, 0 until dismissed")

    def sink_name(self, index: int) -> str:
        return self.name

    def build(self, ctx: SinkContext, index: int) -> DesktopSink:
        return DesktopSink(name=self.name, bus_address=self.bus_address, expire_ms=self.expire_ms)
