"""Who is home across the household: this node's presence board merged with the other nodes' sightings.

A person is home when this node's board says so, or when another node's
latest sighting says home and was made less than ``[presence] away_after_s``
seconds ago (wall clock, UTC: the nodes' clocks must agree, e.g. by NTP; a
skew of s seconds lengthens or shortens the window by s). A node that went
silent therefore stops counting ``away_after_s`` after its last sighting.

:func:`counts_home` and :func:`merge_presence` are pure; :class:`RemoteSightings`
keeps the other nodes' latest sightings (the household sync writes, the
inference thread and sinks read: it takes a lock); :class:`MergedPresence`
is the :class:`~camera.alerts.base.PresenceView` the sinks read in a household.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence

from camera.alerts.base import PresenceView
from camera.alerts.sinks.mqtt import slug
from camera.events.store import Presence
from camera.household.records import Sighting


def counts_home(s: Sighting, now: dt.datetime, away_after_s: float) -> bool:
    """Whether sighting ``s`` still makes its person home at ``now`` (UTC)."""
    return s.home and (now - s.last_seen).total_seconds() < away_after_s


def merge_presence(local: Sequence[Presence], remote: Sequence[Sighting], now: dt.datetime,
                   away_after_s: float) -> list[Presence]:
    """Everyone's presence across the household at ``now``, by name.

    Home when this node's row says home or any other node's sighting counts
    (:func:`counts_home`); then ``since`` is the earliest of those that say
    home and ``last_seen``/``camera``/``node`` the latest. Away otherwise:
    since the latest departure (a remote sighting that ran out left at
    ``last_seen + away_after_s``), last seen at the latest sighting anywhere.
    """
    rows: dict[str, list[Presence]] = {}
    for p in local:
        rows.setdefault(p.person, []).append(p)
    for s in remote:
        home = counts_home(s, now, away_after_s)
        since = s.since if s.home == home else min(now, s.last_seen + dt.timedelta(seconds=away_after_s))
        rows.setdefault(s.person, []).append(Presence(s.person, home, since, s.last_seen, s.camera, s.node))
    out = []
    for person in sorted(rows):
        candidates = rows[person]
        homes = [p for p in candidates if p.home]
        latest = max(homes or candidates, key=lambda p: p.last_seen)
        since = min(p.since for p in homes) if homes else max(p.since for p in candidates)
        out.append(Presence(person, bool(homes), since, latest.last_seen, latest.camera, latest.node))
    return out


class RemoteSightings:
    """The other nodes' latest sighting of each person, for node ``node`` (its own are ignored).

    ``away_after_s`` is ``[presence] away_after_s``; ``clock`` gives UTC now.
    Listeners (:meth:`listen`) are called by :meth:`notify`, which the sync
    calls after each change and every second (sightings run out by time alone).
    """

    def __init__(self, node: str, away_after_s: float,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.node = node
        self.away_after_s = away_after_s
        self._clock = clock
        self._sightings: dict[tuple[str, str], Sighting] = {}
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def update(self, s: Sighting) -> bool:
        """Keep ``s`` unless it is this node's own or older than what is kept; returns whether it was kept."""
        with self._lock:
            old = self._sightings.get((s.node, s.person))
            if s.node == self.node or (old is not None and old.last_seen > s.last_seen):
                return False
            self._sightings[(s.node, s.person)] = s
            return True

    def forget(self, node: str, key: str) -> None:
        """Drop ``node``'s sighting of the person whose slug is ``key`` (its retained message was cleared)."""
        with self._lock:
            for k in [k for k in self._sightings if k[0] == node and slug(k[1]) == key]:
                del self._sightings[k]

    def sightings(self) -> list[Sighting]:
        with self._lock:
            return list(self._sightings.values())

    def home(self) -> dict[str, bool]:
        """Every person another node has sighted, and whether any such sighting counts as home now."""
        now, out = self._clock(), {}
        for s in self.sightings():
            out[s.person] = out.get(s.person, False) or counts_home(s, now, self.away_after_s)
        return out

    def home_elsewhere(self, person: str) -> bool:
        """Whether another node has ``person`` home now (called on the inference thread: memory only)."""
        return self.home().get(person, False)

    def listen(self, changed: Callable[[], None]) -> None:
        self._listeners.append(changed)

    def notify(self) -> None:
        for changed in list(self._listeners):
            changed()


class MergedPresence:
    """The household's view for sinks: ``board`` (this node's :class:`~camera.events.presence.PresenceBoard`)
    or ``remote`` says home. Watchers hear of changes that come without an alert of this node."""

    def __init__(self, board: PresenceView, remote: RemoteSightings) -> None:
        self.board = board
        self.remote = remote
        self._watchers: list[Callable[[Sequence[str]], None]] = []
        self._last: dict[str, bool] = {}
        self._lock = threading.Lock()
        remote.listen(self.check)

    def home(self) -> dict[str, bool]:
        local = self.board.home()
        merged = self.remote.home()
        for person, home in local.items():
            merged[person] = home or merged.get(person, False)
        return merged

    def watch(self, changed: Callable[[Sequence[str]], None]) -> None:
        self._watchers.append(changed)

    def check(self) -> list[str]:
        """Tell the watchers whose presence changed since the last check; returns them, by name."""
        now = self.home()
        with self._lock:
            changed = sorted(p for p, h in now.items() if self._last.get(p) != h)
            self._last = now
        if changed:
            for w in list(self._watchers):
                w(changed)
        return changed
