"""The one cooldown policy: after an alert for a key at time t, the key is quiet until t + cooldown_s.

Used for every cooldown facecam has: a person's visit on a camera (a new
track of them within ``[alerts] cooldown_s`` continues the visit), unknown
faces on a camera (at most one alert per ``cooldown_s``), and each routing
rule's ``cooldown_s`` per (sink, person, camera). Times are seconds on one
clock per key (a camera's clock, or UNIX seconds of the alert's time); a time
earlier than the last one (a clock that went back) does not count as cooling.
"""

from __future__ import annotations

from collections.abc import Hashable


def cooling(last_s: float | None, now_s: float, cooldown_s: float) -> bool:
    """Whether a key last alerted at ``last_s`` is still quiet at ``now_s`` (pure)."""
    return last_s is not None and cooldown_s > 0 and 0 <= now_s - last_s < cooldown_s


class Cooldowns:
    """The last alert time of each key, and :func:`cooling` over it.

    Not thread-safe: each owner (the visit book, the router) calls it from one thread.
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, float] = {}

    def cooling(self, key: Hashable, now_s: float, cooldown_s: float) -> bool:
        return cooling(self._last.get(key), now_s, cooldown_s)

    def record(self, key: Hashable, now_s: float) -> None:
        """``key`` alerted at ``now_s`` (a later time than the stored one wins)."""
        prev = self._last.get(key)
        self._last[key] = now_s if prev is None else max(prev, now_s)

    def allow(self, key: Hashable, now_s: float, cooldown_s: float) -> bool:
        """``True`` (and recorded) unless ``key`` is cooling at ``now_s``."""
        if self.cooling(key, now_s, cooldown_s):
            return False
        self.record(key, now_s)
        return True

    def forget_before(self, horizon_s: float) -> None:
        """Drop keys whose last alert is older than ``horizon_s`` (bounds memory over a long run)."""
        for key in [k for k, t in self._last.items() if t < horizon_s]:
            del self._last[key]

    def __len__(self) -> int:
        return len(self._last)
