"""Who is home: per person, home since / last seen, and the "arrived" and "left" transitions.

A person *arrives* when a track is named as them while they are away (or
not yet seen in this run), and *leaves* when no camera has named them for
``away_after_s`` seconds. Times are the camera's clock in seconds (the
clock of the camera that saw them last decides when they left; live
cameras share the monotonic clock) plus UTC wall time for display. The
state starts empty at each run: the first sighting of someone is an arrival.

:func:`on_seen` and :func:`on_tick` are pure: they take a state and return
the next one and the transition, if any; :class:`PresenceBoard` keeps the
states of everyone. The board is the one presence in facecam: the pipeline
updates it (inference thread) and every sink reads it through
:meth:`PresenceBoard.home` (their own threads), so it takes a lock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from camera.events.config import PresenceConfig
from camera.types import AlertKind

#: the transitions, as the alerts they raise
ARRIVED = AlertKind.ARRIVED
LEFT = AlertKind.LEFT


@dataclass(frozen=True)
class PersonState:
    """One person's presence.

    ``home`` and since when (``since_s`` camera clock seconds, ``since``
    UTC); last named at ``last_seen_s`` / ``last_seen`` on ``camera``.
    """

    person: str
    home: bool
    since_s: float
    since: dt.datetime
    last_seen_s: float
    last_seen: dt.datetime
    camera: str


def on_seen(state: PersonState | None, person: str, camera: str, t_s: float,
            wall: dt.datetime) -> tuple[PersonState, str | None]:
    """The state after ``person`` is named on ``camera`` at ``t_s``, and ``"arrived"`` if they were away."""
    if state is None or not state.home:
        return PersonState(person, True, t_s, wall, t_s, wall, camera), ARRIVED
    if t_s < state.last_seen_s and camera == state.camera:
        return state, None  # an older sighting arriving late changes nothing
    return replace(state, last_seen_s=t_s, last_seen=wall, camera=camera), None


def on_tick(state: PersonState, camera: str, t_s: float, wall: dt.datetime,
            away_after_s: float) -> tuple[PersonState, str | None]:
    """The state at ``t_s`` on ``camera``'s clock, and ``"left"`` when they have been unseen long enough.

    Only the camera that saw them last can decide that they left (its clock
    is the one ``last_seen_s`` is on).
    """
    if not state.home or camera != state.camera or t_s - state.last_seen_s < away_after_s:
        return state, None
    return replace(state, home=False, since_s=state.last_seen_s + away_after_s, since=wall), LEFT


class PresenceBoard:
    """Everyone's presence during a run (``[presence] away_after_s`` seconds unseen: left)."""

    def __init__(self, settings: PresenceConfig) -> None:
        self.away_after_s = settings.away_after_s
        self._states: dict[str, PersonState] = {}
        self._lock = threading.Lock()

    def seen(self, person: str, camera: str, t_s: float, wall: dt.datetime) -> str | None:
        """Record that ``person`` was named; returns ``"arrived"`` when they were away."""
        with self._lock:
            self._states[person], change = on_seen(self._states.get(person), person, camera, t_s, wall)
        return change

    def tick(self, camera: str, t_s: float, wall: dt.datetime) -> list[PersonState]:
        """Advance ``camera``'s clock to ``t_s``; returns the states of those who just left."""
        left = []
        with self._lock:
            for person, state in list(self._states.items()):
                new, change = on_tick(state, camera, t_s, wall, self.away_after_s)
                if change == LEFT:
                    self._states[person] = new
                    left.append(new)
        return left

    def state(self, person: str) -> PersonState | None:
        with self._lock:
            return self._states.get(person)

    def states(self) -> list[PersonState]:
        """Everyone's state now, by name."""
        with self._lock:
            return [self._states[p] for p in sorted(self._states)]

    def home(self) -> dict[str, bool]:
        """Every person with a presence, and whether they are home now (:class:`~camera.alerts.base.PresenceView`)."""
        with self._lock:
            return {p: s.home for p, s in self._states.items()}

    def watch(self, changed: Callable[[Sequence[str]], None]) -> None:
        """Nothing to watch: every change of this board comes with an alert (``arrived``, ``left``)."""

    def is_home(self, person: str) -> bool:
        s = self.state(person)
        return s is not None and s.home
