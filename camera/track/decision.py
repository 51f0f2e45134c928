"""The decision for one track, as pure functions: who is this, from all its good observations.

One frame can fool the matcher (a stranger's face at one angle lands within
the threshold of a household member). A track is named only when enough
good observations agree: each embedded observation carries a quality in
[0, 1] (:mod:`camera.track.quality`) and its per-person Euclidean distances (lower
is more alike; a negative example may have raised some to ``inf``, see
:func:`camera.matching.apply_negatives`). Observations below ``min_quality``
are ignored. Each good one votes for its nearest person when that distance
is at most ``max_distance``, else for :data:`~camera.types.UNKNOWN`.

A person is named when, among the good observations,

- at least ``min_votes`` vote for them and their qualities add up to at least
  ``min_weight``;
- those votes carry at least ``min_agreement`` (0-1) of all the good weight;
- the quality-weighted mean distance to them is at most ``track_max_distance``
  (or ``max_distance`` if lower) and beats the second-nearest person's by at
  least ``min_margin``. A mean over several faces is steadier than one face,
  so it can be held to a stricter bar than a single face: on LFW View 1 (a
  household of 40 people enrolled from one photo each, their other photos as
  40 genuine tracks; 60 other LFW people and 12 deepface people as stranger
  tracks; dlib ResNet; ``scripts/calibrate_visits.py``), genuine track means
  have a 95th percentile of 0.522 (largest 0.581), the strangers' smallest is
  0.604 (0.576 for the same stranger in the smaller faces of
  ``tests/test_visits.py``), while 5.2% of single stranger frames fall within
  0.6 of someone. Hence 0.56.

The track is :data:`~camera.types.UNKNOWN` when at least ``min_votes`` good
observations with ``min_weight`` quality vote for no one and carry
``min_agreement`` of the good weight, or, once the track has ended
(``final``), when it has that many good observations and no one was named
(they agree on no one). Only faces of at least ``unknown_min_face_px`` count
towards an unknown verdict: a small face's distances run high (the
hamilton clip's far shot of Lin-Manuel Miranda, ~40 px, reads 0.49-0.68
from his photo, his close-ups 0.40-0.55), so far away a household member
would pass for a stranger; small faces can still name someone, at the same
strict mean. Otherwise it is undecided (``person is None``).
Frigate weighs faces the same way (a score per tracked person, ``min_faces``);
the margin and the explicit unknown go further.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camera.track.config import TrackingConfig
from camera.types import UNKNOWN

#: the distance that stands for "ruled out" (``inf``) in quality-weighted means.
RULED_OUT_DISTANCE = 1.5


@dataclass(frozen=True)
class Observation:
    """One embedded face of a track.

    ``quality`` in [0, 1]; ``distances`` (p,) Euclidean distance to each
    person of the gallery (``inf``: no embeddings, or ruled out by a
    negative example); ``timestamp_s`` on the camera's clock; ``face_px`` the
    face's size (shorter box side, full-resolution pixels).
    """

    quality: float
    distances: np.ndarray
    timestamp_s: float = 0.0
    face_px: float = float("inf")

    def __post_init__(self) -> None:
        if self.distances.ndim != 1:
            raise ValueError(f"Observation.distances: expected (p,), got {self.distances.shape}")
        if not 0.0 <= self.quality <= 1.0:
            raise ValueError(f"Observation.quality: expected 0..1, got {self.quality}")


@dataclass(frozen=True)
class TrackDecision:
    """The outcome for one track.

    ``person``: a name, :data:`UNKNOWN`, or ``None`` while undecided.
    ``nearest``: the person with the lowest quality-weighted mean distance,
    ``distance`` that mean (lower is more alike) and ``margin`` how much the
    second-nearest person's mean is above it. ``votes`` and ``weight``: the
    good observations behind ``person`` (or behind ``nearest`` while
    undecided) and their summed quality; ``good`` counts all good observations.
    """

    person: str | None
    distance: float
    nearest: str | None
    margin: float
    votes: int
    weight: float
    good: int

    @property
    def decided(self) -> bool:
        return self.person is not None

    @property
    def is_known(self) -> bool:
        return self.person is not None and self.person != UNKNOWN


def vote(distances: np.ndarray, names: Sequence[str], max_distance: float) -> str:
    """One observation's vote: its nearest person if within ``max_distance``, else :data:`UNKNOWN`."""
    if distances.size == 0:
        return UNKNOWN
    best = int(np.argmin(distances))
    return names[best] if distances[best] <= max_distance else UNKNOWN


def weighted_distances(observations: Sequence[Observation], n_people: int) -> np.ndarray:
    """(p,) quality-weighted mean distance to each person; ``inf`` counts as :data:`RULED_OUT_DISTANCE`."""
    if not observations or n_people == 0:
        return np.full((n_people,), np.inf)
    d = np.stack([np.minimum(o.distances, RULED_OUT_DISTANCE) for o in observations])
    w = np.array([o.quality for o in observations], np.float64)
    if w.sum() <= 0:
        return np.full((n_people,), np.inf)
    return (w[:, None] * d).sum(axis=0) / w.sum()


def decide_track(observations: Sequence[Observation], names: Sequence[str], settings: TrackingConfig,
                 max_distance: float, final: bool = False) -> TrackDecision:
    """The decision for a track from its embedded observations (see the module docstring).

    ``max_distance`` is the camera's matching threshold (``[matching]``);
    the other thresholds come from ``settings`` (``[tracking]``).
    """
    s = settings
    good = [o for o in observations if o.quality >= s.min_quality]
    for o in good:
        if o.distances.shape != (len(names),):
            raise ValueError(f"Observation.distances: expected ({len(names)},) for the gallery's people, "
                             f"got {o.distances.shape}")
    if not good:
        return TrackDecision(None, float("inf"), None, 0.0, 0, 0.0, 0)
    total = sum(o.quality for o in good)
    votes = [vote(o.distances, names, max_distance) for o in good]
    mean = weighted_distances(good, len(names))
    order = np.argsort(mean, kind="stable")
    nearest = names[int(order[0])] if len(names) else None
    d1 = float(mean[order[0]]) if len(names) else float("inf")
    d2 = float(mean[order[1]]) if len(names) > 1 else float("inf")
    margin = d2 - d1 if np.isfinite(d1) else 0.0

    def tally(who: str | None) -> tuple[int, float]:
        picked = [o.quality for o, v in zip(good, votes, strict=True) if v == who]
        return len(picked), float(sum(picked))

    n, w = tally(nearest)
    if (nearest is not None and n >= s.min_votes and w >= s.min_weight and w >= s.min_agreement * total
            and d1 <= min(max_distance, s.track_max_distance) and margin >= s.min_margin):
        return TrackDecision(nearest, d1, nearest, margin, n, w, len(good))
    big = [o.face_px >= s.unknown_min_face_px for o in good]  # faces big enough to call a stranger
    picked = [o.quality for o, v, b in zip(good, votes, big, strict=True) if v == UNKNOWN and b]
    nu, wu = len(picked), float(sum(picked))
    if nu >= s.min_votes and wu >= s.min_weight and wu >= s.min_agreement * total:
        return TrackDecision(UNKNOWN, d1, nearest, margin, nu, wu, len(good))
    big_weight = sum(o.quality for o, b in zip(good, big, strict=True) if b)
    if final and sum(big) >= s.min_votes and big_weight >= s.min_weight:
        return TrackDecision(UNKNOWN, d1, nearest, margin, nu, wu, len(good))
    return TrackDecision(None, d1, nearest, margin, n, w, len(good))
