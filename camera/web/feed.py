"""Alerts for the web app's live stream (``GET /api/v1/alerts/stream``, server-sent events).

In the daemon, :class:`AlertFeed` is one more sink of the pipeline: it keeps
the latest alerts in memory, numbered. Without the daemon (``facecam web``),
:class:`OutboxTail` reads the alerts the daemon stored in its outbox
(read-only). Both answer :meth:`AlertSource.since`: the alerts after a
number, oldest first, as their JSON payload.
"""

from __future__ import annotations

import collections
import json
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from camera.alerts.outbox import decode_alert
from camera.fsutil import connect_readonly
from camera.types import Alert

#: alerts the feed keeps for clients that reconnect
KEEP = 200


class AlertSource(Protocol):
    def since(self, seq: int) -> list[tuple[int, dict[str, object]]]:
        """Alerts numbered above ``seq``, oldest first (``seq`` -1: only the newest number, no alerts)."""
        ...


class AlertFeed:
    """An :class:`~camera.alerts.base.AlertSink` keeping the last :data:`KEEP` alerts for the web app."""

    name = "web"

    def __init__(self) -> None:
        self._alerts: collections.deque[tuple[int, dict[str, object]]] = collections.deque(maxlen=KEEP)
        self._seq = 0
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        with self._lock:
            self._seq += 1
            self._alerts.append((self._seq, alert.to_json_dict()))

    def close(self) -> None:
        pass

    def since(self, seq: int) -> list[tuple[int, dict[str, object]]]:
        with self._lock:
            if seq < 0:
                return [(self._seq, {})] if self._seq else []
            return [(n, a) for n, a in self._alerts if n > seq]


class OutboxTail:
    """The alerts stored in ``DATA_DIR/outbox.sqlite3`` (none when there is no outbox: no sink configured)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def since(self, seq: int) -> list[tuple[int, dict[str, object]]]:
        if not self.path.is_file():
            return []
        db = connect_readonly(self.path, timeout=5)
        try:
            if seq < 0:
                row = db.execute("SELECT MAX(seq) FROM alerts").fetchone()
                return [(int(row[0]), {})] if row and row[0] else []
            rows = db.execute("SELECT seq, payload FROM alerts WHERE seq > ? ORDER BY seq LIMIT ?", (seq, KEEP))
            return [(int(n), decode_alert(p).to_json_dict()) for n, p in rows]
        except (sqlite3.Error, ValueError, KeyError, json.JSONDecodeError):
            return []
        finally:
            db.close()
