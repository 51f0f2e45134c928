"""The alert sink protocol: where decisions leave facecam, and what a sink may read while it is built.

A sink takes an :class:`~camera.types.Alert` and delivers it (a file, a
command, an HTTP endpoint, a broker). ``send`` raises
:class:`~camera.errors.AlertDeliveryError` when delivery failed after the
sink's own retries; the caller logs it, counts it and carries on. ``close``
flushes and releases resources; it is called once, at shutdown.

Sinks only publish: who is home is decided once, by the pipeline's presence
board, and read through :class:`PresenceView`; cooldowns are decided before
an alert reaches any sink (:mod:`camera.alerts.cooldown`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
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


class PresenceView(Protocol):
    """Read-only access to who is home (the pipeline's :class:`~camera.events.presence.PresenceBoard`, or the
    household's merged view, :class:`~camera.household.presence.MergedPresence`)."""

    def home(self) -> dict[str, bool]:
        """Every person with a presence, and whether they are home now."""
        ...

    def watch(self, changed: Callable[[Sequence[str]], None]) -> None:
        """Have ``changed(persons)`` called when someone's presence changes *without* an alert of this node
        (another node's sighting); a view whose changes all come with alerts never calls it."""
        ...


class NoPresence:
    """A :class:`PresenceView` for sinks built outside a running pipeline: no one has a presence yet."""

    def home(self) -> dict[str, bool]:
        return {}

    def watch(self, changed: Callable[[Sequence[str]], None]) -> None:
        """Nothing ever changes here."""


@dataclass(frozen=True)
class SinkContext:
    """What a sink may need when it is built: the data directory, the enrolled ``persons`` and configured
    ``cameras`` (announced up front, e.g. to Home Assistant), and the presence board."""

    root: Path
    persons: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    presence: PresenceView = NoPresence()
