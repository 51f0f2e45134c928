"""Alerts the outbox could not store (a full disk, an I/O error), kept in memory, in order, until it can.

While the disk is full the outbox still hands each alert to its sinks from
here (a sink on another disk, the network, the desktop still gets it), and
tries to store the held alerts every few seconds; once it can, each is
written with the deliveries already made marked delivered, and durability
resumes. Alerts held here are lost only if the process dies before space
returns; at most :data:`MAX_HELD` are held (the oldest go first, counted).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from camera.alerts.rules import Route
from camera.types import Alert

log = logging.getLogger(__name__)

#: alerts held in memory at most while they cannot be stored
MAX_HELD = 10_000


@dataclass
class Held:
    """One alert not yet stored: its routes, when it came (UNIX s), and per sink when it was delivered,
    how many attempts failed and when to try next."""

    alert: Alert
    routes: tuple[Route, ...]
    created: float
    done: dict[str, float] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    next_try: dict[str, float] = field(default_factory=dict)

    def due(self, sink: str, now: float) -> bool:
        return (sink not in self.done and any(r.sink == sink for r in self.routes)
                and self.next_try.get(sink, 0.0) <= now)


class Spill:
    """The held alerts, oldest first; thread-safe."""

    def __init__(self) -> None:
        self._held: list[Held] = []
        self._lock = threading.Lock()
        self.dropped = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def add(self, held: Held) -> None:
        with self._lock:
            self._held.append(held)
            if len(self._held) > MAX_HELD:
                self._held.pop(0)
                self.dropped += 1
                log.error("outbox: more than %d alerts held in memory; the oldest is dropped (%d so far)",
                          MAX_HELD, self.dropped)

    def head_for(self, sink: str, now: float) -> Held | None:
        """The oldest held alert ``sink`` still has to get, if it is due."""
        with self._lock:
            for h in self._held:
                if sink in h.done or not any(r.sink == sink for r in h.routes):
                    continue
                return h if h.due(sink, now) else None  # in order: never one before an older one
            return None

    def pending_for(self, sink: str) -> int:
        with self._lock:
            return sum(1 for h in self._held if sink not in h.done and any(r.sink == sink for r in h.routes))

    def first(self) -> Held | None:
        with self._lock:
            return self._held[0] if self._held else None

    def remove(self, held: Held) -> None:
        with self._lock:
            if self._held and self._held[0] is held:
                self._held.pop(0)
