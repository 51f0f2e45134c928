"""The alert sink protocol: where decisions leave facecam.

A sink takes an :class:`~camera.types.Alert` and delivers it (a file, a
command, an HTTP endpoint, a broker). ``send`` raises
:class:`~camera.errors.AlertDeliveryError` when delivery failed after the
sink's own retries; the caller logs it, counts it and carries on. ``close``
flushes and releases resources; it is called once, at shutdown.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from camera.types import Alert


@runtime_checkable
class AlertSink(Protocol):
    """Something that delivers alerts."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver one alert, or raise AlertDeliveryError."""
        ...

    def close(self) -> None:
        """Flush and release; no ``send`` follows."""
        ...
