"""Recommend a Euclidean ``max_distance`` for a gallery from its own photos.

The question a threshold answers in open-set use is "how near must the
nearest enrolled photo be before we name the person?". A stranger is falsely
accepted when their nearest photo among *all* enrolled people is within the
threshold, so the stranger scores that matter are nearest-neighbour
distances to the whole gallery, not random pair distances. Leave-one-out
gives both kinds of score from the gallery alone:

* **impostor scores** — for each enrolled photo, pretend its person is a
  stranger: remove every photo of that person and take the distance to the
  nearest remaining photo (any other person). Optional ``negatives``
  (vectors of people known not to be enrolled) add their nearest distance to
  the full gallery.
* **genuine scores** — for each photo of a person with at least two photos,
  remove that one photo and take the nearest remaining photo; it is *named
  correctly* when that nearest photo is the same person and within the
  threshold.

The recommended ``max_distance`` is the largest threshold at which at most
``target_far`` of the impostor scores are accepted
(:func:`camera.evaluation.metrics.threshold_at_far`: just below the
``floor(target_far * m) + 1``-th smallest of ``m`` impostor scores).
With ``m`` impostor scores the FAR is only resolved to ``1/m``; a warning
says so when ``m < 1 / target_far``. The genuine scores estimate what share
of known people's photos will still be named at that threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera.evaluation.common import RunOptions, nearest_distances, photo_problems
from camera.evaluation.datasets import Problem, list_photos, read_people
from camera.evaluation.extract import ExtractStats, FacePolicy, embed_photos, get_engine
from camera.evaluation.metrics import far_at, threshold_at_far

log = logging.getLogger(__name__)

__all__ = ["CalibrateResult", "Recommendation", "calibrate_dir", "recommend_threshold"]


#: Default face policy: the largest face; retry with more upsampling; no fixed-box fallback.
DEFAULT_POLICY = FacePolicy()


@dataclass(frozen=True)
class Recommendation:
    """A recommended threshold and what leave-one-out expects of it.

    ``max_distance``: Euclidean; a face is named when its nearest enrolled
    photo is at or below it. ``expected_far``: fraction of impostor scores
    accepted at it (<= ``target_far``). ``expected_named``: fraction of
    genuine leave-one-out probes named correctly at it. ``expected_rank1``:
    fraction whose nearest other photo is the same person (any distance).
    ``impostor_distances`` / ``genuine_distances`` are the scores, ascending;
    ``n_impostor`` includes the ``n_negatives`` negatives' scores.
    """

    max_distance: float
    target_far: float
    expected_far: float
    expected_named: float
    expected_rank1: float
    n_people: int
    n_photos: int
    n_impostor: int
    n_genuine: int
    n_negatives: int
    far_resolution: float
    impostor_distances: tuple[float, ...]
    genuine_distances: tuple[float, ...]
    warnings: tuple[str, ...]
    method: str = "leave-one-out nearest-neighbour (see camera.evaluation.calibrate)"


def recommend_threshold(names: list[str], vectors: np.ndarray, target_far: float,
                        negatives: np.ndarray | None = None) -> Recommendation:
    """The largest ``max_distance`` whose leave-one-out stranger FAR is at most ``target_far``.

    ``names`` (n,) person per row of ``vectors`` (n, d); ``negatives`` (m, d)
    optional vectors of people who are not enrolled. See the module docstring
    for the method. Raises ``ValueError`` when there is nothing to estimate a
    FAR from (one person and no negatives) or the shapes disagree.
    """
    v = np.asarray(vectors, float)
    if v.ndim != 2 or v.shape[0] != len(names):
        raise ValueError(f"recommend_threshold: expected vectors (len(names)={len(names)}, d), got {v.shape}")
    if not 0.0 < target_far < 1.0:
        raise ValueError(f"recommend_threshold: expected 0 < target_far < 1, got {target_far}")
    who = np.asarray(names, dtype=object)
    neg = np.zeros((0, v.shape[1])) if negatives is None else np.asarray(negatives, float).reshape(-1, v.shape[1])
    people = sorted(set(names))
    if len(people) < 2 and neg.shape[0] == 0:
        raise ValueError("recommend_threshold: needs at least two enrolled people or some negatives "
                         "to estimate a false-accept rate")
    d = nearest_distances(v, v)
    np.fill_diagonal(d, np.inf)
    same = who[:, None] == who[None, :]
    impostor = np.where(same, np.inf, d).min(axis=1) if len(people) > 1 else np.zeros(0)
    if neg.shape[0]:
        impostor = np.concatenate([impostor, nearest_distances(neg, v).min(axis=1)])
    has_mate = (same.sum(axis=1) - 1) > 0
    nearest = d.argmin(axis=1)
    nearest_d = d[np.arange(len(names)), nearest]
    rank1_ok = (who[nearest] == who) & has_mate
    genuine = np.where(same, d, np.inf).min(axis=1)[has_mate]
    t = threshold_at_far(impostor, target_far)
    n_gen = int(has_mate.sum())
    named = float(np.mean(rank1_ok[has_mate] & (nearest_d[has_mate] <= t))) if n_gen else float("nan")
    warnings = []
    if impostor.size < 1 / target_far:
        warnings.append(f"only {impostor.size} impostor scores: the FAR is resolved to "
                        f"1/{impostor.size} = {1 / impostor.size:.3f}, coarser than the target "
                        f"{target_far:g}; the threshold sits just below the nearest stranger score")
    if n_gen == 0:
        warnings.append("nobody has two photos: the share of known faces named cannot be estimated")
    log.info("recommended max_distance %.4f for FAR %.3g (%d impostor, %d genuine scores)",
             t, target_far, impostor.size, n_gen)
    return Recommendation(
        max_distance=t, target_far=target_far, expected_far=far_at(impostor, t), expected_named=named,
        expected_rank1=float(np.mean(rank1_ok[has_mate])) if n_gen else float("nan"),
        n_people=len(people), n_photos=len(names), n_impostor=int(impostor.size), n_genuine=n_gen,
        n_negatives=int(neg.shape[0]),
        far_resolution=1 / impostor.size, impostor_distances=tuple(np.sort(impostor).tolist()),
        genuine_distances=tuple(np.sort(genuine).tolist()), warnings=tuple(warnings))


@dataclass(frozen=True)
class CalibrateResult:
    """One engine's recommendation from a folder of enrolment photos."""

    engine: str
    model_id: str
    default_max_distance: float
    recommendation: Recommendation
    problems: list[Problem]
    stats: ExtractStats


def calibrate_dir(directory: Path, options: RunOptions, target_far: float,
                  negatives_dir: Path | None = None,
                  policy: FacePolicy = DEFAULT_POLICY, negatives_limit: int | None = None) -> list[CalibrateResult]:
    """:func:`recommend_threshold` for every engine on ``DIR/NAME/*`` photos.

    Every photo under ``negatives_dir`` (or ``negatives_limit`` of them, see
    :func:`~camera.evaluation.datasets.list_photos`) is a negative.
    Photos without an embedding are listed and left out.
    """
    people, problems = read_people(directory)
    paths = [p for person in people for p in person.photos]
    owner = {str(p): person.name for person in people for p in person.photos}
    neg_paths = list_photos(negatives_dir, negatives_limit) if negatives_dir else []
    out = []
    for name in options.engines:
        photos, stats = embed_photos(paths + neg_paths, name, options.settings_for(name), policy, options.cache_dir,
                                     options.workers, options.progress)
        ok = [str(p) for p in paths if photos[str(p)].ok]
        neg = [photos[str(p)].vector for p in neg_paths if photos[str(p)].ok]
        vectors = np.array([photos[p].vector for p in ok]) if ok else np.zeros((0, 0))
        rec = recommend_threshold([owner[p] for p in ok], vectors, target_far,
                                  np.array(neg) if neg else None)
        default_t = get_engine(name, options.settings_for(name)).embedder.default_max_distance
        out.append(CalibrateResult(name, stats.model_id, default_t, rec,
                                   problems + photo_problems(photos, "left out of the calibration"), stats))
    return out
