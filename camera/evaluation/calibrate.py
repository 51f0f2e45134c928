"""Recommend a Euclidean ``max_distance`` for a gallery from its own photos.

The question a threshold answers in open-set use is "how near must the
nearest enrolled photo be before we name the person?". A stranger is falsely
accepted when *any* of the ``N`` enrolled photos lies within the threshold
``t``. If one stranger-vs-photo comparison is accepted with probability
``p(t)`` (the per-comparison false-accept rate) and the ``N`` comparisons
are treated as independent, the open-set false-accept rate is

    FAR(t) = 1 - (1 - p(t)) ** N,

so a target ``F`` needs ``p(t) <= p* = 1 - (1 - F) ** (1 / N)``: the more
photos are enrolled, the stricter the threshold. (Photos of one person are
alike, so the true FAR is lower than this; counting every photo is the
cautious side.) ``p*`` is far below what a household's few people can
resolve by counting (10 people give 10 nearest-impostor scores; 1 % of them
is nothing), so ``p(t)`` comes from two fitted models of the impostor
distance distribution, and the stricter threshold wins:

* **household** — every pair of enrolled photos of two different people
  (``sum n_i n_j`` pairs, plus every negative-vs-enrolled pair when
  ``negatives`` are given) is one impostor comparison. A normal
  distribution with their sample mean ``m`` and standard deviation ``s``
  models the lower tail: ``t_household = m + s * z(p*)``, ``z`` the
  standard normal quantile. Needs at least :data:`MIN_HOUSEHOLD_PAIRS`
  pairs, else it is left out (with a warning).
* **model prior** — the model's impostor distances measured once on a
  public benchmark (LFW View 1 ``pairsDevTrain``, different pairs; never
  the test pairs), stored as summary numbers in ``models/manifest.toml``
  (:class:`ImpostorPrior`). A straight line through the stored lower
  quantiles against their normal scores (a normal fitted to the lower tail
  only, which is what matters) gives ``t_prior = a + b * z(p*)``. It
  catches what a small household cannot show: strangers who look like an
  enrolled person more than the enrolled people look like each other.

The recommended ``max_distance`` is ``min(t_household, t_prior,
default_max_distance)``: never looser than the model's own default.

Leave-one-out over the enrolled photos checks the result (it no longer sets
it): **impostor scores** — for each photo, the distance to the nearest photo
of any other person (plus each negative's nearest distance); their share at
or below the threshold is ``loo_far``. **genuine scores** — for each photo
of a person with at least two photos, remove that photo and take the nearest
remaining one; it is *named correctly* when that is the same person and
within the threshold (``expected_named``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from camera.evaluation.common import RunOptions, nearest_distances, photo_problems
from camera.evaluation.datasets import Problem, list_photos, read_people
from camera.evaluation.extract import ExtractStats, FacePolicy, embed_photos, get_engine
from camera.evaluation.metrics import far_at
from models import load_manifest

log = logging.getLogger(__name__)

__all__ = ["CalibrateResult", "ImpostorPrior", "MIN_HOUSEHOLD_PAIRS", "Recommendation", "calibrate_dir",
           "impostor_prior", "per_comparison_far", "recommend_threshold"]

#: Default face policy: the largest face; retry with more upsampling; no fixed-box fallback.
DEFAULT_POLICY = FacePolicy()

#: Fewest cross-person photo pairs for the household normal fit (a mean and sd from fewer mean little).
MIN_HOUSEHOLD_PAIRS = 10

_NORMAL = NormalDist()


def per_comparison_far(target_far: float, n_enrolled: int) -> float:
    """``p* = 1 - (1 - target_far) ** (1 / n_enrolled)``: the per-comparison FAR that keeps the
    open-set FAR of a stranger compared with ``n_enrolled`` photos at ``target_far``."""
    return float(-np.expm1(np.log1p(-target_far) / max(n_enrolled, 1)))


@dataclass(frozen=True)
class ImpostorPrior:
    """A model's impostor-distance distribution, measured once on a benchmark.

    ``levels`` (ascending, in (0, 0.5)) and ``distances`` are lower quantiles
    of the different-person pair distances; ``mean``/``sd`` describe the whole
    distribution (for reports); ``n_pairs`` how many pairs were measured;
    ``source`` says where and how.
    """

    mean: float
    sd: float
    levels: tuple[float, ...]
    distances: tuple[float, ...]
    n_pairs: int
    source: str

    def __post_init__(self) -> None:
        if len(self.levels) < 2 or len(self.levels) != len(self.distances):
            raise ValueError(f"ImpostorPrior: expected >= 2 levels and as many distances, "
                             f"got {len(self.levels)} and {len(self.distances)}")
        if not all(0.0 < q < 0.5 for q in self.levels):
            raise ValueError(f"ImpostorPrior: expected levels in (0, 0.5), got {self.levels}")

    def _line(self) -> tuple[float, float]:
        z = np.array([_NORMAL.inv_cdf(q) for q in self.levels])
        b, a = np.polyfit(z, np.asarray(self.distances, float), 1)
        return float(a), float(b)

    def threshold(self, p: float) -> float:
        """The distance below which a share ``p`` of impostor comparisons falls (lower-tail fit)."""
        a, b = self._line()
        return a + b * _NORMAL.inv_cdf(p)

    def far(self, t: float) -> float:
        """The per-comparison FAR the lower-tail fit gives at threshold ``t``."""
        a, b = self._line()
        return _NORMAL.cdf((t - a) / b)


def impostor_prior(model_id: str) -> ImpostorPrior | None:
    """The prior stored in ``models/manifest.toml`` for the entry with this ``model_id``
    (keys ``impostor_mean``, ``impostor_sd``, ``impostor_levels``,
    ``impostor_quantiles``, ``impostor_pairs``, ``impostor_source``); ``None`` when there is none."""
    for e in load_manifest().values():
        if e.get("model_id") == model_id and "impostor_quantiles" in e:
            return ImpostorPrior(float(e["impostor_mean"]), float(e["impostor_sd"]),
                                 tuple(map(float, e["impostor_levels"])),
                                 tuple(map(float, e["impostor_quantiles"])), int(e["impostor_pairs"]),
                                 str(e.get("impostor_source", "models/manifest.toml")))
    return None


@dataclass(frozen=True)
class Recommendation:
    """A recommended threshold, how it was reached and what leave-one-out expects of it.

    ``max_distance``: Euclidean; a face is named when its nearest enrolled
    photo is at or below it. ``n_enrolled``: photos in the gallery (``N``);
    ``per_comparison_far``: ``p*`` for ``target_far`` and ``N``.
    ``household_threshold`` / ``prior_threshold``: the two estimates (``nan``
    when left out); ``binding``: which one set the threshold (``household``,
    ``prior`` or ``model default``). ``household_mean`` / ``household_sd``
    over ``n_household_pairs`` cross-person distances. ``expected_far``: the
    open-set FAR the stricter-fitting model gives at ``max_distance``
    (``<= target_far``). ``loo_far``: share of leave-one-out impostor scores
    at or below it (a check). ``expected_named``: share of genuine
    leave-one-out probes named correctly at it; ``expected_rank1``: share
    whose nearest other photo is the same person. ``impostor_distances`` /
    ``genuine_distances`` are the leave-one-out scores, ascending;
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
    n_enrolled: int
    per_comparison_far: float
    household_threshold: float
    prior_threshold: float
    binding: str
    household_mean: float
    household_sd: float
    n_household_pairs: int
    loo_far: float
    default_max_distance: float | None
    prior_source: str | None
    impostor_distances: tuple[float, ...]
    genuine_distances: tuple[float, ...]
    warnings: tuple[str, ...]
    method: str = ("min(household normal fit, model prior lower-tail fit, model default) at the per-comparison "
                   "FAR 1-(1-F)^(1/N) (see camera.evaluation.calibrate)")


def recommend_threshold(names: list[str], vectors: np.ndarray, target_far: float,
                        negatives: np.ndarray | None = None, prior: ImpostorPrior | None = None,
                        default_max_distance: float | None = None) -> Recommendation:
    """The ``max_distance`` whose modelled open-set FAR is at most ``target_far`` (module docstring).

    ``names`` (n,) person per row of ``vectors`` (n, d); ``negatives`` (m, d)
    optional vectors of people who are not enrolled; ``prior`` the model's
    impostor prior (:func:`impostor_prior`), ``None`` for none;
    ``default_max_distance`` the model's own threshold, a cap (``None``: no cap).
    Raises ``ValueError`` when the shapes disagree, ``target_far`` is outside
    (0, 1), or there is nothing to model a FAR from (fewer than
    :data:`MIN_HOUSEHOLD_PAIRS` cross-person pairs and no prior).
    """
    v = np.asarray(vectors, float)
    if v.ndim != 2 or v.shape[0] != len(names):
        raise ValueError(f"recommend_threshold: expected vectors (len(names)={len(names)}, d), got {v.shape}")
    if not 0.0 < target_far < 1.0:
        raise ValueError(f"recommend_threshold: expected 0 < target_far < 1, got {target_far}")
    who = np.asarray(names, dtype=object)
    neg = np.zeros((0, v.shape[1])) if negatives is None else np.asarray(negatives, float).reshape(-1, v.shape[1])
    people = sorted(set(names))
    n = len(names)
    d = nearest_distances(v, v)
    np.fill_diagonal(d, np.inf)
    same = who[:, None] == who[None, :]
    # Household: every cross-person pair once, plus every negative against every enrolled photo.
    upper = np.triu(~same, k=1)
    pairs = d[upper]
    if neg.shape[0] and n:
        pairs = np.concatenate([pairs, nearest_distances(neg, v).ravel()])
    if pairs.size < MIN_HOUSEHOLD_PAIRS and prior is None:
        raise ValueError(f"recommend_threshold: needs at least {MIN_HOUSEHOLD_PAIRS} cross-person photo pairs "
                         f"(two or more enrolled people, or negatives) or a model prior to estimate a "
                         f"false-accept rate; got {pairs.size} pairs and no prior")
    p_star = per_comparison_far(target_far, n)
    warnings = []
    h_mean = float(np.mean(pairs)) if pairs.size else float("nan")
    h_sd = float(np.std(pairs, ddof=1)) if pairs.size > 1 else float("nan")
    if pairs.size >= MIN_HOUSEHOLD_PAIRS:
        t_house = h_mean + h_sd * _NORMAL.inv_cdf(p_star)
    else:
        t_house = float("nan")
        warnings.append(f"only {pairs.size} cross-person photo pairs (fewer than {MIN_HOUSEHOLD_PAIRS}): "
                        "the household estimate is left out; the model prior alone sets the threshold")
    t_prior = prior.threshold(p_star) if prior is not None else float("nan")
    if prior is None:
        warnings.append("no impostor prior for this model: only the household's own photos set the threshold")
    candidates = {"household": t_house, "prior": t_prior}
    if default_max_distance is not None:
        candidates["model default"] = float(default_max_distance)
    binding, t = min(((k, x) for k, x in candidates.items() if np.isfinite(x)), key=lambda kx: kx[1])
    if binding == "model default":
        warnings.append(f"both estimates are looser than the model default {default_max_distance:g}; "
                        "kept the default")
    if t <= 0.0:
        warnings.append(f"the {binding} estimate {t:.4f} is not positive: the target FAR cannot be met with "
                        "these photos (too many, or too alike); nobody would be named")
        t = 0.0
    per_pair = [prior.far(t)] if prior is not None else []
    if np.isfinite(t_house):
        per_pair.append(_NORMAL.cdf((t - h_mean) / h_sd) if h_sd > 0 else float(t >= h_mean))
    fars = [1 - (1 - p) ** n for p in per_pair]
    # Leave-one-out checks: nearest other person per photo (impostor), nearest own other photo (genuine).
    impostor = np.where(same, np.inf, d).min(axis=1) if len(people) > 1 else np.zeros(0)
    if neg.shape[0] and n:
        impostor = np.concatenate([impostor, nearest_distances(neg, v).min(axis=1)])
    has_mate = (same.sum(axis=1) - 1) > 0
    nearest = d.argmin(axis=1) if n else np.zeros(0, int)
    nearest_d = d[np.arange(n), nearest]
    rank1_ok = (who[nearest] == who) & has_mate
    genuine = np.where(same, d, np.inf).min(axis=1)[has_mate]
    n_gen = int(has_mate.sum())
    named = float(np.mean(rank1_ok[has_mate] & (nearest_d[has_mate] <= t))) if n_gen else float("nan")
    loo_far = far_at(impostor, t)
    if impostor.size and loo_far > 0:
        warnings.append(f"{int(np.sum(impostor <= t))} enrolled photos have another person's photo within "
                        f"{t:.4f}: those people may be taken for each other")
    if n_gen == 0:
        warnings.append("nobody has two photos: the share of known faces named cannot be estimated")
    log.info("recommended max_distance %.4f (%s) for FAR %.3g over %d photos: p* %.3g, household %.4f, prior %.4f",
             t, binding, target_far, n, p_star, t_house, t_prior)
    return Recommendation(
        max_distance=float(t), target_far=target_far, expected_far=float(max(fars)) if fars else float("nan"),
        expected_named=named, expected_rank1=float(np.mean(rank1_ok[has_mate])) if n_gen else float("nan"),
        n_people=len(people), n_photos=n, n_impostor=int(impostor.size), n_genuine=n_gen,
        n_negatives=int(neg.shape[0]), n_enrolled=n, per_comparison_far=p_star,
        household_threshold=float(t_house), prior_threshold=float(t_prior), binding=binding,
        household_mean=h_mean, household_sd=h_sd, n_household_pairs=int(pairs.size), loo_far=loo_far,
        default_max_distance=default_max_distance, prior_source=prior.source if prior is not None else None,
        impostor_distances=tuple(np.sort(impostor).tolist()), genuine_distances=tuple(np.sort(genuine).tolist()),
        warnings=tuple(warnings))


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
        default_t = get_engine(name, options.settings_for(name)).embedder.default_max_distance
        rec = recommend_threshold([owner[p] for p in ok], vectors, target_far, np.array(neg) if neg else None,
                                  impostor_prior(stats.model_id), default_t)
        out.append(CalibrateResult(name, stats.model_id, default_t, rec,
                                   problems + photo_problems(photos, "left out of the calibration"), stats))
    return out
