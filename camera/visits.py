"""From track decisions to visits: events in the store, presence, and the alerts they raise.

- A track named P starts a visit: one event row (:mod:`camera.events`) with
  the snapshot of its best face. A new track of P on the same camera that
  starts within ``cooldown_s`` seconds (camera clock) of P's last visit
  there ending continues that visit instead (a person who turned away for
  a moment is not a new visit): that is the per-person cooldown.
- P's first visit while away raises ``"arrived"``; a new visit while home
  raises ``"recognised"``; P unseen for ``away_after_s`` raises ``"left"``
  (:mod:`camera.presence`).
- A track decided :data:`~camera.types.UNKNOWN` is a visit of its own and
  raises ``"recognised"`` with person ``unknown`` (at most once per
  ``cooldown_s`` per camera, and not at all when ``alert_unknown`` is off).
  If later faces name it after all, the event is renamed and P arrives.
- When a track ends, its event gets its end time, final distance and the
  embeddings of its faces (for ``facecam label``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from camera.events import Event, EventStore, Presence
from camera.presence import ARRIVED, PersonState, PresenceBoard
from camera.types import UNKNOWN, Alert

if TYPE_CHECKING:
    from camera.pipeline import CameraStats, CooldownPolicy
    from camera.tracking import Track

log = logging.getLogger(__name__)

#: seconds of wall time between two retention passes over the event store.
PRUNE_EVERY_S = 600.0


class VisitRecorder:
    """Keeps the visits of a run; :class:`~camera.pipeline.Pipeline` sets :attr:`deliver` and :attr:`stats`.

    ``store`` ``None`` keeps events in memory only; ``attach_snapshots``
    puts the event's snapshot path into its alerts.
    """

    def __init__(self, store: EventStore | None, presence: PresenceBoard, policy: CooldownPolicy,
                 model_id: str, attach_snapshots: bool = True) -> None:
        self.store = store
        self.attach_snapshots = attach_snapshots
        self.presence = presence
        self.policy = policy
        self.model_id = model_id
        self.alerts: list[Alert] = []
        self.events: dict[str, Event] = {}
        self.stats: dict[str, CameraStats] = {}
        self.deliver: Callable[[Alert], None] = lambda alert: None
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}
        self._pruned = 0.0
        self._prune(dt.datetime.now(dt.UTC))

    # ----- called by the pipeline --------------------------------------------------

    def decided(self, track: Track, upgraded: bool) -> None:
        """``track`` was just decided (or, ``upgraded``, turned from unknown to a name)."""
        d = track.decision
        if d is None or d.person is None:
            return
        person = d.person
        if person == UNKNOWN:
            self._start_event(track)
            if self.policy.should_alert(track.camera, UNKNOWN, track.last_s):
                self._alert(track, "recognised")
            return
        recent = self._recent.get((track.camera, person))
        if upgraded and track.event_id is not None:
            if self.store is not None:
                self.store.update(track.event_id, track.last_wall, track.last_s, person=person, distance=d.distance)
            new_visit = True
        elif recent is not None and 0 <= track.first_s - recent[1] <= self.policy.cooldown_s:
            track.event_id = recent[0]
            new_visit = False
            log.info("%s: track %d continues the visit of %s (event %s)", track.camera, track.id, person, recent[0])
        else:
            self._start_event(track)
            new_visit = True
        change = self.presence.seen(person, track.camera, track.last_s, track.last_wall)
        if change == ARRIVED:
            self._save_presence(self.presence.states[person])
            self._alert(track, "arrived")
        elif new_visit:
            self._alert(track, "recognised")

    def seen(self, track: Track) -> None:
        """``track`` was detected on this frame: keep its person's presence fresh."""
        if track.decision is not None and track.decision.is_known:
            self.presence.seen(track.decision.person, track.camera, track.last_s, track.last_wall)  # type: ignore[arg-type]

    def ended(self, track: Track) -> None:
        """``track`` ended: close its visit in the store."""
        d = track.decision
        if track.event_id is None or d is None or d.person is None:
            if track.embedded:
                log.debug("%s: track %d ended undecided (%d faces embedded)", track.camera, track.id,
                          len(track.embedded))
            return
        vectors = np.stack([e.vector for e in track.embedded])
        if self.store is not None:
            self.store.update(track.event_id, track.last_wall, track.last_s, distance=d.distance, vectors=vectors)
        if d.is_known:
            self._recent[(track.camera, d.person)] = (track.event_id, track.last_s)  # type: ignore[index]

    def tick(self, camera: str, t_s: float, wall: dt.datetime) -> None:
        """Advance ``camera``'s clock to ``t_s`` seconds (``wall`` UTC): raise "left" alerts."""
        for state in self.presence.tick(camera, t_s, wall):
            self._save_presence(state)
            alert = Alert(uuid.uuid4().hex, state.camera, wall, state.person, float("nan"), (0.0, 0.0, 0.0, 0.0),
                          None, kind="left", extra={"last_seen": state.last_seen.isoformat()})
            self._send(alert)
        if self.store is not None and (wall.timestamp() - self._pruned) > PRUNE_EVERY_S:
            self._prune(wall)

    def close(self) -> None:
        """Store everyone's last-seen time and close the store."""
        for state in self.presence.states.values():
            self._save_presence(state)
        if self.store is not None:
            self.store.close()

    # ----- helpers -----------------------------------------------------------------

    def _start_event(self, track: Track) -> None:
        d, best = track.decision, track.best
        if d is None or d.person is None or best is None:
            return
        if self.store is None or best.candidate.frame is None:
            track.event_id = uuid.uuid4().hex
            return
        c = best.candidate
        event = self.store.add(track.camera, track.id, d.person, track.first_wall, track.last_wall, track.first_s,
                               track.last_s, d.distance, best.observation.quality, c.frame.rgb, c.box_xyxy,  # type: ignore[union-attr]
                               np.stack([e.vector for e in track.embedded]), self.model_id)
        track.event_id = event.id
        self.events[event.id] = event
        if track.camera in self.stats:
            self.stats[track.camera].events += 1
        log.info("%s: visit of %s, event %s (track %d, distance %.3f, %d faces)", track.camera, d.person, event.id,
                 track.id, d.distance, len(track.embedded))

    def _alert(self, track: Track, kind: str) -> None:
        d, best = track.decision, track.best
        if d is None or d.person is None:
            return
        event = self.events.get(track.event_id or "")
        box = best.candidate.box_xyxy if best is not None else track.box_xyxy
        frame = best.candidate.frame if best is not None else None
        extra = {"event": track.event_id or "", "track": str(track.id), "votes": str(d.votes),
                 "video_time_s": f"{track.last_s:.3f}"}
        if frame is not None:
            extra["frame"] = str(frame.index)
        alert = Alert(uuid.uuid4().hex, track.camera, track.last_wall, d.person, d.distance,
                      tuple(float(v) for v in box),  # type: ignore[arg-type]
                      event.snapshot if event is not None and self.attach_snapshots else None, kind=kind,
                      extra=extra)
        log.info("%s: %s %s (distance %.3f, %d of %d good faces agree)", track.camera, kind, d.person, d.distance,
                 d.votes, d.good)
        self._send(alert)

    def _send(self, alert: Alert) -> None:
        self.alerts.append(alert)
        if alert.camera in self.stats:
            self.stats[alert.camera].alerts += 1
        self.deliver(alert)

    def _save_presence(self, s: PersonState) -> None:
        if self.store is not None:
            self.store.set_presence(Presence(s.person, s.home, s.since, s.last_seen, s.camera))

    def _prune(self, now: dt.datetime) -> None:
        self._pruned = now.timestamp()
        if self.store is not None:
            n = self.store.prune(now)
            if n:
                log.info("events: %d old events removed (retention)", n)
