"""From track decisions to visits, as a state machine without I/O: each call returns the effects to carry out.

- A track named P starts a visit: an :class:`OpenEvent` with the frame of its
  best face. A new track of P on the same camera that starts within
  ``[alerts] cooldown_s`` seconds (camera clock) of P's last visit there
  ending continues that visit instead (a person who turned away for a
  moment is not a new visit), as does one that started before that visit
  ended (a track split from it, :meth:`~camera.track.tracker.Tracker.split`,
  starts at the face that split it off, which may be older than the ended
  track's last frame): that is the per-person cooldown.
- P's first visit while away raises ``arrived``; a new visit while home
  raises ``recognised``; P unseen for ``[presence] away_after_s`` raises
  ``left`` (:mod:`camera.events.presence`). In a household of nodes
  (``[household]``), ``home_elsewhere(P)`` says whether another node has P
  home: then P's arrival here is only ``recognised``, and P leaving here
  raises no ``left`` (the node that saw them last says it).
- A track decided :data:`~camera.types.UNKNOWN` is a visit of its own and
  raises ``recognised`` with person ``unknown`` (at most once per
  ``cooldown_s`` per camera, and not at all with ``alert_unknown = false``).
  If later faces name it after all, the event is renamed and P arrives.
- When a track ends, its event gets its end time, final distance and the
  embeddings of its faces (for ``facecam label``).

The effects (:data:`Effect`) are carried out in order by
:class:`camera.events.writer.EventWriter`, off the inference thread: event
rows and pictures, presence rows, then the alerts (whose snapshot path the
writer fills in once the picture is on disk).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

import numpy as np

from camera.alerts.cooldown import Cooldowns
from camera.events.presence import ARRIVED, PersonState, PresenceBoard
from camera.events.store import EventFace
from camera.track.decision import TrackDecision
from camera.track.tracker import Track
from camera.types import UNKNOWN, Alert, AlertContext, AlertKind

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[Concatenate[VisitBook, P], R]) -> Callable[Concatenate[VisitBook, P], R]:
    """``method`` run under the book's lock (the pipeline's inference threads share one book)."""
    @functools.wraps(method)
    def locked(self: VisitBook, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


@dataclass(frozen=True)
class OpenEvent:
    """Store a new visit: ``rgb`` is the frame of its best face (or ``None``), ``box_xyxy`` that face (pixels)."""

    event_id: str
    camera: str
    track: int
    person: str
    start: dt.datetime
    end: dt.datetime
    start_s: float
    end_s: float
    distance: float
    quality: float
    rgb: np.ndarray | None
    box_xyxy: np.ndarray | None
    vectors: np.ndarray
    model_id: str
    votes: int
    margin: float
    nearest: str | None
    faces: list[EventFace]


@dataclass(frozen=True)
class UpdateEvent:
    """Extend visit ``event_id`` to ``end``; rename it, set its decision, its faces' vectors and faces when given."""

    event_id: str
    end: dt.datetime
    end_s: float
    person: str | None = None
    distance: float | None = None
    vectors: np.ndarray | None = None
    votes: int | None = None
    margin: float | None = None
    faces: list[EventFace] | None = None


@dataclass(frozen=True)
class SavePresence:
    """Store one person's presence (for ``facecam events`` and the web app)."""

    state: PersonState


Effect = OpenEvent | UpdateEvent | SavePresence | Alert


class VisitBook:
    """The visits of a run (see the module docstring); its methods take turns (a lock), as the pipeline's
    inference threads share it.

    ``cooldown_s`` is ``[alerts] cooldown_s``; ``alert_unknown`` whether
    unknown faces raise alerts; ``model_id`` the embedder's, stored with each event;
    ``home_elsewhere(person)`` whether another node of the household has them home (default: no other node).
    """

    def __init__(self, presence: PresenceBoard, cooldown_s: float, alert_unknown: bool, model_id: str,
                 home_elsewhere: Callable[[str], bool] | None = None) -> None:
        self.presence = presence
        self.home_elsewhere = home_elsewhere or _nowhere
        self.cooldown_s = cooldown_s
        self.alert_unknown = alert_unknown
        self.model_id = model_id
        self._unknown_alerts = Cooldowns()
        #: (camera, track id) -> the event of that track's visit
        self._event_of: dict[tuple[str, int], str] = {}
        #: (camera, person) -> (event id, camera clock s) of their last visit there that ended
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.RLock()

    @_locked
    def decided(self, track: Track, upgraded: bool, names: tuple[str, ...]) -> list[Effect]:
        """``track`` was just decided (or, ``upgraded``, turned from unknown to a name); ``names`` are the
        gallery's people (the order of its faces' distances)."""
        d = track.decision
        if d is None or d.person is None:
            return []
        person, key = d.person, (track.camera, track.id)
        if person == UNKNOWN:
            effects: list[Effect] = [self._open(track, d, names)]
            if self.alert_unknown and self._unknown_alerts.allow(track.camera, track.last_s, self.cooldown_s):
                effects.append(self._alert(track, d, person, AlertKind.RECOGNISED))
            return effects
        effects = []
        recent = self._recent.get((track.camera, person))
        if upgraded and key in self._event_of:
            effects.append(UpdateEvent(self._event_of[key], track.last_wall, track.last_s, person=person,
                                       distance=d.distance))
            new_visit = True
        elif recent is not None and self.cooldown_s > 0 and track.first_s - recent[1] < self.cooldown_s:
            self._event_of[key] = recent[0]
            new_visit = False
            log.info("%s: track %d continues the visit of %s (event %s)", track.camera, track.id, person,
                     recent[0])
        else:
            effects.append(self._open(track, d, names))
            new_visit = True
        change = self.presence.seen(person, track.camera, track.last_s, track.last_wall)
        state = self.presence.state(person)
        arrived = change == ARRIVED and state is not None
        if arrived:
            effects.append(SavePresence(state))
        if arrived and not self.home_elsewhere(person):
            effects.append(self._alert(track, d, person, AlertKind.ARRIVED))
        elif new_visit or arrived:  # home already, here or at another node of the household
            effects.append(self._alert(track, d, person, AlertKind.RECOGNISED))
        return effects

    @_locked
    def seen(self, track: Track) -> None:
        """``track`` was detected on this frame: keep its person's presence fresh."""
        d = track.decision
        if d is not None and d.is_known and d.person is not None:
            self.presence.seen(d.person, track.camera, track.last_s, track.last_wall)

    @_locked
    def ended(self, track: Track, names: tuple[str, ...]) -> list[Effect]:
        """``track`` ended: close its visit (``names``: the gallery's people, the order of its faces' distances)."""
        d = track.decision
        event_id = self._event_of.pop((track.camera, track.id), None)
        if event_id is None or d is None or d.person is None:
            if track.embedded:
                log.debug("%s: track %d ended undecided (%d faces embedded)", track.camera, track.id,
                          len(track.embedded))
            return []
        if d.is_known:
            self._recent[(track.camera, d.person)] = (event_id, track.last_s)
        vectors = np.stack([e.vector for e in track.embedded])
        return [UpdateEvent(event_id, track.last_wall, track.last_s, distance=d.distance, vectors=vectors,
                            votes=d.votes, margin=d.margin, faces=_faces(track, d, names))]

    @_locked
    def tick(self, camera: str, t_s: float, wall: dt.datetime) -> list[Effect]:
        """Advance ``camera``'s clock to ``t_s`` seconds (``wall`` UTC): who left."""
        effects: list[Effect] = []
        for state in self.presence.tick(camera, t_s, wall):
            effects.append(SavePresence(state))
            if self.home_elsewhere(state.person):
                log.info("%s: %s unseen here, still home at another node: no 'left'", camera, state.person)
                continue
            effects.append(Alert(uuid.uuid4().hex, state.camera, wall, state.person, float("nan"), (0.0, 0.0, 0.0, 0.0),
                                 kind=AlertKind.LEFT, context=AlertContext(last_seen=state.last_seen)))
        self._unknown_alerts.forget_before(t_s - self.cooldown_s)
        return effects

    @_locked
    def close(self) -> list[Effect]:
        """Everyone's last presence, to store at shutdown."""
        return [SavePresence(s) for s in self.presence.states()]

    def _open(self, track: Track, d: TrackDecision, names: tuple[str, ...]) -> OpenEvent:
        best = track.best
        event_id = uuid.uuid4().hex
        self._event_of[(track.camera, track.id)] = event_id
        frame = None if best is None else best.candidate.frame
        log.info("%s: visit of %s, event %s (track %d, distance %.3f, %d faces)", track.camera, d.person, event_id,
                 track.id, d.distance, len(track.embedded))
        return OpenEvent(event_id, track.camera, track.id, d.person or UNKNOWN, track.first_wall, track.last_wall,
                         track.first_s, track.last_s, d.distance,
                         0.0 if best is None else best.observation.quality,
                         None if frame is None else frame.rgb, None if best is None else best.candidate.box_xyxy,
                         np.stack([e.vector for e in track.embedded]) if track.embedded else np.zeros((0, 128)),
                         self.model_id, d.votes, d.margin, d.nearest, _faces(track, d, names))

    def _alert(self, track: Track, d: TrackDecision, person: str, kind: AlertKind) -> Alert:
        best = track.best
        box = best.candidate.box_xyxy if best is not None else track.box_xyxy
        frame = best.candidate.frame if best is not None else None
        log.info("%s: %s %s (distance %.3f, %d of %d good faces agree)", track.camera, kind.value, person,
                 d.distance, d.votes, d.good)
        context = AlertContext(event_id=self._event_of.get((track.camera, track.id)), track=track.id, votes=d.votes,
                               video_time_s=round(track.last_s, 3), frame=None if frame is None else frame.index)
        return Alert(uuid.uuid4().hex, track.camera, track.last_wall, person, d.distance,
                     tuple(float(v) for v in box), kind=kind, context=context)  # type: ignore[arg-type]


def _nowhere(person: str) -> bool:
    """No other node: no one is home elsewhere."""
    return False


def _faces(track: Track, d: TrackDecision, names: tuple[str, ...]) -> list[EventFace]:
    """The track's embedded faces as stored with its visit: each one's distance to the person decided (to the
    nearest person for an unknown; ``None`` when ruled out or with an empty gallery). ``names`` orders the
    observations' distances (the gallery's people)."""
    who = d.person if d.is_known else d.nearest
    col = names.index(who) if who in names else None
    out = []
    for n, e in enumerate(track.embedded):
        o = e.observation
        value = None if col is None else float(o.distances[col])
        out.append(EventFace(n, o.timestamp_s, o.quality, value if value is not None and np.isfinite(value) else None))
    return out
