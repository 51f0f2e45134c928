"""Tracking: the same face across frames, so decisions are made per person-visit, not per frame.

Boxes are ``xyxy`` in full-resolution pixels; times are the camera's clock
in seconds. A detection joins a live track when its box overlaps the
track's last box (IoU at least ``iou_min``) or its centre moved at most
``max_shift`` face sizes, with a face size within a factor of two; pairs are
taken greedily, best overlap first. Detections that join no track start a
new one, with the next id of this tracker (ids are stable for the life of
the track). A track ends when it has not been seen for ``max_gap_s``.

Embedding similarity links what the boxes cannot: when a new track's first
face is embedded and a live track that lost its face (not seen on the
latest detection) is within ``link_max_distance`` (Euclidean, the mean of
its embedded faces), the new track is folded into the old one, which keeps
its id (a person who jumped, was occluded or turned away for a moment).
A track keeps at most ``max_embeddings`` faces, folded ones included: its
best face and the newest others, so a long-lived track stays bounded.

Only some faces of each track are embedded (:func:`embed_due`), and only
when their quality reaches ``min_quality``: while a track is
:func:`undecided`, the best candidate (highest quality) of each
``embed_interval_s`` window (default 0: every frame the detector runs on,
and it runs on every frame then), so a decision comes a few frames after
first sight; once it holds ``max_embeddings`` faces and is still undecided
(someone far away, walking up), one every ``recheck_interval_s``, the newest
faces taking the place of the oldest, so they are named as they come
closer; after an "unknown" decision, one every ``recheck_interval_s`` (a
stranger who turns to the camera may still be family); once the track is named, one
every ``recheck_interval_s`` to check it is still the same face: one farther
than ``link_max_distance`` from the mean of the track's faces (someone took
their place in the picture, a scene cut) ends the track and starts a new one
(:meth:`Tracker.split`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace

import numpy as np

from camera.geometry import iou_xyxy as iou_matrix
from camera.track.config import TrackingConfig
from camera.track.decision import Observation, TrackDecision
from camera.track.quality import Quality
from camera.types import Detections, Frame

log = logging.getLogger(__name__)

#: intervals are compared with this slack, in seconds, so float clocks (0.1 * k) do not skip a beat.
CLOCK_SLACK_S = 1e-6


@dataclass(frozen=True)
class Candidate:
    """One detection of a track, kept until it is embedded or beaten: the frame, the face, its quality.

    ``face`` holds this one detection (box, score, landmarks) as the embedder
    takes it. ``frame`` is ``None`` once no longer needed: of the embedded
    faces, only the best keeps its frame (for the visit's snapshot), so a
    track holds at most two frames (that one and its waiting candidate's).
    """

    frame: Frame | None
    face: Detections
    quality: Quality

    def __post_init__(self) -> None:
        if len(self.face) != 1:
            raise ValueError(f"Candidate.face: expected one detection, got {len(self.face)}")

    @property
    def box_xyxy(self) -> np.ndarray:
        """(4,) the face's box, full-resolution pixels."""
        return self.face.xyxy[0]


@dataclass(frozen=True)
class EmbeddedFace:
    """A candidate that was embedded: its descriptor and the decision input it became."""

    candidate: Candidate
    vector: np.ndarray
    observation: Observation


@dataclass
class Track:
    """One face followed across frames on one camera; only :class:`Tracker` changes it."""

    id: int
    camera: str
    first_s: float
    last_s: float
    first_wall: dt.datetime
    last_wall: dt.datetime
    box_xyxy: np.ndarray
    hits: int = 1
    pending: Candidate | None = None
    last_embed_s: float | None = None
    embedded: list[EmbeddedFace] = field(default_factory=list)
    decision: TrackDecision | None = None

    @property
    def best(self) -> EmbeddedFace | None:
        """The embedded face of highest quality (for the snapshot), or ``None``."""
        return max(self.embedded, key=lambda e: e.observation.quality, default=None)

    def mean_vector(self) -> np.ndarray | None:
        if not self.embedded:
            return None
        return np.mean([e.vector for e in self.embedded], axis=0)

    def add_embedded(self, face: EmbeddedFace, keep: int | None = None) -> None:
        """Keep an embedded face; only the best embedded face keeps its frame. With ``keep``, at most that
        many faces stay: the best one and the newest others (a long-lived track that keeps absorbing lost
        tracks, :meth:`Tracker.link`, would otherwise grow without end)."""
        self.embedded.append(face)
        best = self.best
        if keep is not None and len(self.embedded) > keep:
            oldest = {id(e) for e in [e for e in self.embedded if e is not best][:len(self.embedded) - keep]}
            self.embedded = [e for e in self.embedded if id(e) not in oldest]
        self.embedded = [e if e is best or e.candidate.frame is None else replace(e, candidate=replace(
            e.candidate, frame=None)) for e in self.embedded]

    def offer(self, cand: Candidate) -> None:
        """Keep ``cand`` as the candidate to embed if it beats the one waiting."""
        if self.pending is None or cand.quality.value > self.pending.quality.value:
            self.pending = cand


def associate(track_boxes: np.ndarray, det_boxes: np.ndarray, iou_min: float,
              max_shift: float) -> list[tuple[int, int]]:
    """Greedy (track index, detection index) pairs; see the module docstring for the gates."""
    t = np.asarray(track_boxes, np.float64).reshape(-1, 4)
    d = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    if len(t) == 0 or len(d) == 0:
        return []
    iou = iou_matrix(t, d)
    ct = (t[:, :2] + t[:, 2:]) / 2
    cd = (d[:, :2] + d[:, 2:]) / 2
    st = np.maximum((t[:, 2:] - t[:, :2]).min(axis=1), 1.0)
    sd = np.maximum((d[:, 2:] - d[:, :2]).min(axis=1), 1.0)
    shift = np.linalg.norm(ct[:, None, :] - cd[None, :, :], axis=2) / st[:, None]
    ratio = sd[None, :] / st[:, None]
    ok = ((iou >= iou_min) | (shift <= max_shift)) & (ratio >= 0.5) & (ratio <= 2.0)
    score = np.where(ok, iou - 0.1 * shift, -np.inf)
    pairs: list[tuple[int, int]] = []
    while np.isfinite(score).any():
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        pairs.append((int(i), int(j)))
        score[i, :] = -np.inf
        score[:, j] = -np.inf
    return sorted(pairs)


def undecided(track: Track, settings: TrackingConfig) -> bool:
    """Whether ``track`` still waits for faces to decide on: not yet named or ruled unknown, with room for
    more faces, and a face good enough to embed (embedded, or waiting). The pipeline then runs the detector
    every ``embed_interval_s``, motion or not, so a decision comes a few frames after first sight."""
    if (track.decision is not None and track.decision.decided) or len(track.embedded) >= settings.max_embeddings:
        return False
    c = track.pending
    return bool(track.embedded) or (c is not None and c.quality.value >= settings.min_quality)


def embed_due(track: Track, now_s: float, settings: TrackingConfig) -> bool:
    """Whether ``track``'s waiting candidate should be embedded now (see the module docstring)."""
    c = track.pending
    if c is None or c.quality.value < settings.min_quality:
        return False
    if track.decision is not None and track.decision.is_known:  # a check that it is still them
        return track.last_embed_s is None or now_s - track.last_embed_s >= settings.recheck_interval_s - CLOCK_SLACK_S
    interval = settings.embed_interval_s
    if (track.decision is not None and track.decision.decided) or len(track.embedded) >= settings.max_embeddings:
        interval = settings.recheck_interval_s  # unknown, or still undecided after that many faces
    return track.last_embed_s is None or now_s - track.last_embed_s >= interval - CLOCK_SLACK_S


class Tracker:
    """The live tracks of one camera."""

    def __init__(self, camera: str, settings: TrackingConfig) -> None:
        self.camera = camera
        self.settings = settings
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, frame: Frame, detections: Detections, qualities: list[Quality]) -> list[Track]:
        """Assign one frame's detections to tracks (new ones as needed); returns the tracks seen."""
        s = self.settings
        boxes = np.asarray(detections.xyxy, np.float64).reshape(-1, 4)
        pairs = associate(np.array([t.box_xyxy for t in self.tracks]), boxes, s.iou_min, s.max_shift)
        matched = {j: self.tracks[i] for i, j in pairs}
        seen = []
        for j in range(len(boxes)):
            cand = Candidate(frame, detections.select(np.array([j])), qualities[j])
            track = matched.get(j)
            if track is None:
                track = Track(self._next_id, self.camera, frame.timestamp_s, frame.timestamp_s, frame.wall_time,
                              frame.wall_time, boxes[j])
                self._next_id += 1
                self.tracks.append(track)
            else:
                track.last_s, track.last_wall, track.box_xyxy = frame.timestamp_s, frame.wall_time, boxes[j]
                track.hits += 1
            track.offer(cand)
            seen.append(track)
        return seen

    def take_pending(self, track: Track, now_s: float) -> Candidate | None:
        """The candidate to embed now (it stops waiting; the embed clock restarts at ``now_s``)."""
        c = track.pending
        if c is None or c.frame is None:
            return None
        track.pending, track.last_embed_s = None, now_s
        return c

    def add_embedded(self, track: Track, face: EmbeddedFace) -> Track:
        """Keep ``face`` in ``track``, then :meth:`link` it; returns the track that holds it now."""
        track.add_embedded(face, self.settings.max_embeddings)
        return self.link(track)

    def decide(self, track: Track, decision: TrackDecision) -> None:
        """Record ``track``'s new decision."""
        track.decision = decision

    def link(self, track: Track) -> Track:
        """Fold a new track into a live one that lost its face and looks the same (embedding); returns the survivor."""
        vec = track.mean_vector()
        if vec is None or len(track.embedded) != 1:
            return track
        best: tuple[float, Track] | None = None
        for other in self.tracks:
            ov = other.mean_vector()
            if other is track or ov is None or other.last_s >= track.first_s:
                continue  # seen together with this face: someone else
            d = float(np.linalg.norm(ov - vec))
            if d <= self.settings.link_max_distance and (best is None or d < best[0]):
                best = (d, other)
        if best is None:
            return track
        other = best[1]
        log.debug("%s: track %d joins track %d (embedding distance %.3f)", self.camera, track.id, other.id, best[0])
        for face in track.embedded:
            other.add_embedded(face, self.settings.max_embeddings)
        other.last_s, other.last_wall, other.box_xyxy = track.last_s, track.last_wall, track.box_xyxy
        other.hits += track.hits
        other.last_embed_s = track.last_embed_s
        self.tracks.remove(track)
        return other

    def split(self, track: Track, face: EmbeddedFace) -> tuple[Track, Track]:
        """``face`` is not who ``track`` was named as (someone else took its place, or a scene cut): end
        ``track`` and start a new track from ``face``. Returns ``(the ended track, the new one)``."""
        c = face.candidate
        frame = c.frame
        if frame is None:
            raise ValueError("Tracker.split: the face must keep its frame")
        self.tracks.remove(track)
        new = Track(self._next_id, self.camera, frame.timestamp_s, frame.timestamp_s, frame.wall_time, frame.wall_time,
                    np.asarray(c.box_xyxy, np.float64), last_embed_s=frame.timestamp_s)
        self._next_id += 1
        new.add_embedded(face)
        self.tracks.append(new)
        log.info("%s: track %d is someone else now: it ends, track %d starts", self.camera, track.id, new.id)
        return track, new

    def expire(self, now_s: float) -> list[Track]:
        """Remove and return the tracks not seen for more than ``max_gap_s`` (all of them with ``now_s=inf``)."""
        ended = [t for t in self.tracks if now_s - t.last_s > self.settings.max_gap_s]
        self.tracks = [t for t in self.tracks if t not in ended]
        return ended
