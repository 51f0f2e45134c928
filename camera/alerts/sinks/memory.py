"""A sink that keeps the alerts it gets, in order, in memory: for the demo, evaluation and tests.

Not configurable from the TOML file: a daemon has no reader for it.
"""

from __future__ import annotations

import threading

from camera.types import Alert


class MemorySink:
    """Collects every alert it is sent (``alerts``, in order); thread-safe."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._alerts: list[Alert] = []
        self._lock = threading.Lock()

    @property
    def alerts(self) -> list[Alert]:
        """A copy of the alerts so far."""
        with self._lock:
            return list(self._alerts)

    def send(self, alert: Alert) -> None:
        with self._lock:
            self._alerts.append(alert)

    def close(self) -> None:
        pass
