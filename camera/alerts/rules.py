"""Alert routing: which named sinks get an alert, and with or without its snapshot.

Rules are evaluated once, when the pipeline hands over an alert, and the
result (a list of :class:`Route`) is written to the durable outbox together
with the alert, so a sink that is down later still gets exactly what the rules
chose at the time of the event. All decisions use the alert's own ``time``
(UTC, converted to local wall-clock time for quiet hours), never the time of
delivery, so replaying a backlog after an outage cannot change them.

Semantics (documented for the ``[[alerts.rules]]`` config):

* No rules at all: every alert goes to every sink, snapshot attached.
* Otherwise every rule is checked; a rule *matches* an alert when its
  ``persons`` (empty: anyone; :data:`~camera.types.UNKNOWN` names the
  unknown), ``cameras`` (empty: any) and ``only_unknown`` filters all pass.
  A matching rule *fires* for each of its ``sinks`` unless the alert falls in
  its quiet hours or the sink is still cooling down for that
  ``(sink, person, camera)`` (``cooldown_s`` seconds since the last alert
  routed there). An alert no rule fires for is dropped (logged at debug).
* A sink gets the alert at most once; its snapshot is attached when any rule
  that fired for it has ``snapshot = true``.

:class:`Router` is the :class:`~camera.alerts.base.AlertSink` the pipeline
holds: it applies the rules and hands the routes to the outbox.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from camera.alerts.config import QuietHoursConfig, RuleConfig
from camera.alerts.cooldown import cooling
from camera.types import UNKNOWN, Alert

log = logging.getLogger(__name__)

CooldownKey = tuple[str, str, str]
"""``(sink name, person, camera)``: the unit a rule's cooldown applies to."""

#: cooldown keys kept before old ones are forgotten
MAX_COOLDOWN_KEYS = 4096


@dataclass(frozen=True)
class Route:
    """Deliver one alert to the sink called ``sink``, with the snapshot path or without."""

    sink: str
    snapshot: bool = True


@dataclass(frozen=True)
class QuietHours:
    """A daily local wall-clock window ``[start, end)``; ``start > end`` crosses midnight.

    ``QuietHours(dt.time(22), dt.time(7))`` is quiet from 22:00 until 06:59:59.
    An empty window (``start == end``) is refused: it is almost always a typo.
    """

    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(f"QuietHours: expected start != end, got both {self.start.isoformat()}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("QuietHours: expected naive local times, got a time with tzinfo")

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        """From ``"HH:MM"`` (or ``"HH:MM:SS"``) strings, as written in the config."""
        return cls(dt.time.fromisoformat(start), dt.time.fromisoformat(end))

    @classmethod
    def from_config(cls, q: QuietHoursConfig) -> QuietHours:
        return cls.parse(q.start, q.end)

    def contains(self, local: dt.time) -> bool:
        """Whether the local wall-clock time ``local`` lies in the window."""
        local = local.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class Rule:
    """One routing rule; see the module docstring for how rules combine.

    ``cooldown_s`` is in seconds (0: no cooldown), measured between alert
    times. ``persons`` are exact gallery names (or ``"unknown"``).
    """

    sinks: tuple[str, ...]
    persons: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    only_unknown: bool = False
    quiet_hours: QuietHours | None = None
    cooldown_s: float = 0.0
    snapshot: bool = True

    def __post_init__(self) -> None:
        if not self.sinks:
            raise ValueError("Rule.sinks: expected at least one sink name, got none")
        if not self.cooldown_s >= 0:
            raise ValueError(f"Rule.cooldown_s: expected >= 0 seconds, got {self.cooldown_s}")

    @classmethod
    def from_config(cls, r: RuleConfig) -> Rule:
        return cls(tuple(r.sinks), tuple(r.persons), tuple(r.cameras), r.only_unknown,
                   QuietHours.from_config(r.quiet_hours) if r.quiet_hours else None, r.cooldown_s, r.snapshot)

    def matches(self, alert: Alert) -> bool:
        """Whether the person, camera and only-unknown filters accept ``alert``."""
        if self.only_unknown and alert.person != UNKNOWN:
            return False
        if self.persons and alert.person not in self.persons:
            return False
        return not (self.cameras and alert.camera not in self.cameras)


def local_time(when: dt.datetime, tz: dt.tzinfo | None) -> dt.time:
    """Wall-clock time of the instant ``when`` in ``tz`` (``None``: the system's zone).

    A naive ``when`` is taken as UTC, the convention of :class:`~camera.types.Alert`.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(tz).time()


def route(alert: Alert, rules: Sequence[Rule], sinks: Sequence[str],
          last_sent: Mapping[CooldownKey, dt.datetime], tz: dt.tzinfo | None = None) -> list[Route]:
    """The routes for ``alert``: a pure function of the alert, rules and cooldown state.

    ``sinks`` lists every sink name (used when there are no rules, in this
    order). ``last_sent`` maps ``(sink, person, camera)`` to the time of the
    last alert routed there; cooling follows :func:`camera.alerts.cooldown.cooling`.
    """
    if not rules:
        return [Route(s, True) for s in sinks]
    chosen: dict[str, bool] = {}
    quiet_now = None
    for rule in rules:
        if not rule.matches(alert):
            continue
        if rule.quiet_hours is not None:
            quiet_now = local_time(alert.time, tz) if quiet_now is None else quiet_now
            if rule.quiet_hours.contains(quiet_now):
                continue
        for sink in rule.sinks:
            last = last_sent.get((sink, alert.person, alert.camera))
            if cooling(None if last is None else last.timestamp(), alert.time.timestamp(), rule.cooldown_s):
                continue
            chosen[sink] = chosen.get(sink, False) or rule.snapshot
    return [Route(s, snap) for s, snap in chosen.items()]


def record_sent(alert: Alert, routes: Sequence[Route],
                last_sent: dict[CooldownKey, dt.datetime]) -> None:
    """Update the cooldown state after ``alert`` was routed along ``routes``."""
    for r in routes:
        key = (r.sink, alert.person, alert.camera)
        prev = last_sent.get(key)
        last_sent[key] = alert.time if prev is None else max(prev, alert.time)


class RoutedOutbox(Protocol):
    """What :class:`Router` needs from the outbox (see :class:`~camera.alerts.outbox.Outbox`)."""

    @property
    def sink_names(self) -> tuple[str, ...]: ...

    def send(self, alert: Alert, routes: Sequence[Route] | None = None) -> None: ...

    def close(self, drain_s: float = 0.0) -> None: ...


class Router:
    """An :class:`~camera.alerts.base.AlertSink` that applies rules, then hands the alert to the outbox.

    ``timezone`` is an IANA name (``"Europe/Berlin"``) for quiet hours;
    ``None`` uses the system's local zone. Raises ``ValueError`` when a rule
    names a sink the outbox does not have (listing the valid names).
    ``close`` closes the outbox, first waiting up to ``drain_s`` seconds for
    queued alerts to be delivered.
    """

    name = "router"

    def __init__(self, outbox: RoutedOutbox, rules: Sequence[Rule] = (),
                 timezone: str | None = None, drain_s: float = 0.0) -> None:
        self.drain_s = drain_s
        valid = tuple(outbox.sink_names)
        for i, rule in enumerate(rules):
            for sink in rule.sinks:
                if sink not in valid:
                    raise ValueError(f"alerts.rules[{i}].sinks: unknown sink {sink!r}; "
                                     f"valid names: {', '.join(valid) or '(no sinks configured)'}")
        self._outbox = outbox
        self._rules = tuple(rules)
        self._sinks = valid
        self._tz = ZoneInfo(timezone) if timezone else None
        self._last_sent: dict[CooldownKey, dt.datetime] = {}
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        """Route ``alert`` and queue it durably; raises AlertDeliveryError if it cannot be stored."""
        with self._lock:
            routes = route(alert, self._rules, self._sinks, self._last_sent, self._tz)
            if not routes:
                log.debug("alert %s (%r at %r) matched no rule; dropped", alert.id, alert.person,
                          alert.camera)
                return
            self._outbox.send(alert, routes)
            record_sent(alert, routes, self._last_sent)
            self._forget_old(alert.time)

    @property
    def problem(self) -> str | None:
        """The outbox's problem, if it has one now (alerts held in memory)."""
        return getattr(self._outbox, "problem", None)

    def close(self) -> None:
        """Close the outbox (which closes the sinks), draining it for up to ``drain_s`` seconds."""
        self._outbox.close(drain_s=self.drain_s)

    def _forget_old(self, now: dt.datetime) -> None:
        """Bound the cooldown state: drop keys older than the longest cooldown."""
        if len(self._last_sent) < MAX_COOLDOWN_KEYS:
            return
        horizon = max((r.cooldown_s for r in self._rules), default=0.0)
        for key, t in list(self._last_sent.items()):
            if (now - t).total_seconds() > horizon:
                del self._last_sent[key]
