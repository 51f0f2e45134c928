"""Open-set identification on ``DIR/NAME/*``: who is this, or is it a stranger?

Split, deterministic: people in natural folder order; every
``stranger_every``-th person (the 4th, 8th, ... by default) is a *stranger*
— never enrolled, all their photos are probes. Every other person is
*known*: their first ``enroll_k`` photos (natural file order) are enrolled,
the rest are probes. A known person with no photo left over has no probes.

A probe's score is the Euclidean distance to the nearest enrolled photo; it
is *named* as that photo's person when the distance is at or below the
threshold. Reported:

* rank-1: share of known probes whose nearest enrolled photo is their own
  person (closed-set, any distance);
* DIR at FAR x (detection-and-identification rate): threshold set so at
  most a share x of stranger probes is accepted
  (:func:`~camera.evaluation.metrics.threshold_at_far`), then the share of
  known probes named correctly; resolved to ``1/strangers``;
* at a fixed threshold (``--threshold``, default the model's) and at the
  threshold :func:`~camera.evaluation.calibrate.recommend_threshold` gives
  from the enrolled photos alone: strangers' false-accept rate and known
  probes named correctly / named wrongly / rejected.

Small faces (AT&T/ORL, 92x112 grey, faces ~70 px): the default HOG detector
with upsample 1 finds 388 of the 400 photos, the upsample-2 retry 7 more and
5 stay "no face" (measured with dlib). Embedding the whole image as the face
box (``FacePolicy(select="whole")``, ``--face whole``) needs no detector but
is worse there (rank-1 94.3 % against 98.6 %), so detection is the default.

Counting: an enrolment photo without an embedding is listed and the person
is enrolled with the rest; a known probe without one counts as not named
(and a rank-1 miss); a stranger probe without one is listed and left out of
the FAR (it cannot be accepted, so counting it would flatter the FAR).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camera.evaluation.calibrate import ImpostorPrior, Recommendation, impostor_prior, recommend_threshold
from camera.evaluation.common import RunOptions, nearest_distances, photo_problems
from camera.evaluation.datasets import Person, Problem, list_photos, read_people
from camera.evaluation.extract import ExtractStats, FacePolicy, FaceResult, embed_photos, get_engine
from camera.evaluation.metrics import threshold_at_far

log = logging.getLogger(__name__)

__all__ = ["EngineIdentify", "IdentifyResult", "OperatingPoint", "PersonScore", "ProbeScore",
           "evaluate_identify", "score_identify", "score_open_set", "split_people"]


#: Default face policy: the largest face; retry with more upsampling; no fixed-box fallback.
DEFAULT_POLICY = FacePolicy()


@dataclass(frozen=True)
class ProbeScore:
    """One probe: ``nearest`` enrolled person (``None`` without embedding or gallery)
    at ``distance`` (``inf`` then); ``own_distance`` to its own person (``inf`` for strangers)."""

    path: str
    person: str
    stranger: bool
    nearest: str | None
    distance: float
    own_distance: float
    nearest_path: str | None = None


@dataclass(frozen=True)
class OperatingPoint:
    """Rates at one threshold; all are fractions. ``stranger_far`` is over stranger probes with
    an embedding; ``known_*`` over all known probes (they sum to 1)."""

    label: str
    threshold: float
    stranger_far: float
    known_named: float
    known_wrong: float
    known_rejected: float
    strangers_accepted: int


@dataclass(frozen=True)
class PersonScore:
    """Per person. Known: ``rank1`` and ``named`` count probes right at rank 1 / at the
    fixed threshold. Strangers: ``accepted`` counts probes named as someone at it."""

    name: str
    stranger: bool
    n_photos: int
    n_enrolled: int
    n_probes: int
    rank1: int
    named: int
    accepted: int


@dataclass(frozen=True)
class Split:
    """Which photos enrol whom and which are probes."""

    enrol: list[tuple[str, Path]]
    known_probes: list[tuple[str, Path]]
    stranger_probes: list[tuple[str, Path]]
    strangers: list[str]


@dataclass(frozen=True)
class EngineIdentify:
    """One engine's open-set result; ``points`` = fixed threshold, FAR 1 %, FAR 0.1 %, recommended."""

    engine: str
    model_id: str
    rank1: float
    points: list[OperatingPoint]
    recommendation: Recommendation | None
    n_people: int
    n_known: int
    n_strangers: int
    n_enrolled_photos: int
    n_known_probes: int
    n_stranger_probes: int
    persons: list[PersonScore]
    probes: list[ProbeScore]
    photo_status: dict[str, int]
    problems: list[Problem]
    stats: ExtractStats
    photos: dict[str, FaceResult] = field(repr=False, default_factory=dict, metadata={"json": False})


@dataclass(frozen=True)
class IdentifyResult:
    """Every engine on the same split."""

    directory: str
    enroll_k: int
    stranger_every: int
    threshold: float | None
    target_far: float
    policy: str
    settings: str
    engines: list[EngineIdentify]
    problems: list[Problem]


def split_people(people: list[Person], enroll_k: int, stranger_every: int) -> Split:
    """The deterministic split described in the module docstring (``stranger_every`` 0: none)."""
    enrol, known, strange, strangers = [], [], [], []
    for i, person in enumerate(people):
        if stranger_every > 0 and (i + 1) % stranger_every == 0:
            strangers.append(person.name)
            strange += [(person.name, p) for p in person.photos]
        else:
            enrol += [(person.name, p) for p in person.photos[:enroll_k]]
            known += [(person.name, p) for p in person.photos[enroll_k:]]
    return Split(enrol, known, strange, strangers)


def score_open_set(probes: list[ProbeScore], threshold: float, label: str) -> OperatingPoint:
    """Rates at ``threshold`` (named when ``distance <= threshold``)."""
    known = [p for p in probes if not p.stranger]
    strange = [p for p in probes if p.stranger and p.nearest is not None]
    acc = sum(p.distance <= threshold for p in strange)
    named = sum(p.distance <= threshold and p.nearest == p.person for p in known)
    wrong = sum(p.distance <= threshold and p.nearest != p.person for p in known)
    n = max(len(known), 1)
    return OperatingPoint(label, float(threshold), acc / len(strange) if strange else float("nan"),
                          named / n, wrong / n, (len(known) - named - wrong) / n, int(acc))


def evaluate_identify(directory: Path, options: RunOptions, enroll_k: int = 3, stranger_every: int = 4,
                      threshold: float | None = None, target_far: float = 0.01,
                      policy: FacePolicy = DEFAULT_POLICY, limit_people: int | None = None,
                      negatives_dir: Path | None = None, negatives_limit: int | None = None) -> IdentifyResult:
    """Run every engine on the split of ``directory`` (see the module docstring).

    ``threshold`` ``None`` uses each engine's ``default_max_distance``;
    ``target_far`` is what the recommended threshold aims at;
    ``limit_people`` keeps the first N people (for quick runs).
    ``negatives_dir``: photos of people outside the test set (e.g. LFW),
    given to :func:`recommend_threshold` as ``negatives`` (``negatives_limit``
    of them, evenly spaced); they never serve as probes.
    """
    people, problems = read_people(directory)
    people = people[:limit_people] if limit_people else people
    split = split_people(people, enroll_k, stranger_every)
    paths = [p for _, p in split.enrol + split.known_probes + split.stranger_probes]
    neg_paths = list_photos(negatives_dir, negatives_limit) if negatives_dir else []
    results = []
    for name in options.engines:
        photos, stats = embed_photos(paths + neg_paths, name, options.settings_for(name), policy, options.cache_dir,
                                     options.workers, options.progress)
        default_t = get_engine(name, options.settings_for(name)).embedder.default_max_distance
        fixed = threshold if threshold is not None else default_t
        negatives = [photos[str(p)].vector for p in neg_paths if photos[str(p)].ok]
        results.append(score_identify(name, stats, photos, people, split, fixed, target_far,
                                      np.array(negatives) if negatives else None,
                                      impostor_prior(stats.model_id), default_t))
    return IdentifyResult(str(directory), enroll_k, stranger_every, threshold, target_far, policy.describe(),
                          options.describe_settings(), results, problems)


def score_identify(name: str, stats: ExtractStats, photos: dict[str, FaceResult], people: list[Person],
                  split: Split, fixed: float, target_far: float, negatives: np.ndarray | None = None,
                  prior: ImpostorPrior | None = None, default_max_distance: float | None = None) -> EngineIdentify:
    """Score one engine's embedded photos on ``split`` (see the module docstring).

    ``photos`` maps ``str(path)`` to its :class:`FaceResult`; ``fixed`` is the
    threshold reported as "fixed"; ``target_far``, ``negatives`` (m, d), the
    model's impostor ``prior`` and ``default_max_distance`` (a cap) feed
    :func:`recommend_threshold`.
    """
    enrolled = [(who, photos[str(p)].vector) for who, p in split.enrol if photos[str(p)].ok]
    g_paths = [str(p) for _, p in split.enrol if photos[str(p)].ok]
    g_names = np.array([w for w, _ in enrolled], dtype=object)
    g_vecs = np.array([v for _, v in enrolled]) if enrolled else np.zeros((0, 0))
    probes: list[ProbeScore] = []
    for stranger, items in ((False, split.known_probes), (True, split.stranger_probes)):
        for who, p in items:
            vec = photos[str(p)].vector
            if vec is None or not enrolled:
                probes.append(ProbeScore(str(p), who, stranger, None, float("inf"), float("inf")))
                continue
            d = nearest_distances(vec[None, :], g_vecs)[0]
            j = int(np.argmin(d))
            own = d[g_names == who]
            probes.append(ProbeScore(str(p), who, stranger, str(g_names[j]), float(d[j]),
                                     float(own.min()) if own.size else float("inf"), g_paths[j]))
    known = [p for p in probes if not p.stranger]
    strange_d = np.array([p.distance for p in probes if p.stranger and p.nearest is not None])
    points = [score_open_set(probes, fixed, "fixed threshold")]
    for far in (0.01, 0.001):
        if strange_d.size:
            points.append(score_open_set(probes, threshold_at_far(strange_d, far), f"FAR {far:.1%}"))
    rec = None
    try:
        rec = recommend_threshold(list(g_names), g_vecs, target_far, negatives, prior, default_max_distance)
        points.append(score_open_set(probes, rec.max_distance, f"recommended (target FAR {target_far:g})"))
    except ValueError as exc:
        log.warning("%s: no recommended threshold: %s", name, exc)
    persons = []
    for person in people:
        mine = [p for p in probes if p.person == person.name]
        is_stranger = person.name in split.strangers
        persons.append(PersonScore(
            person.name, is_stranger, len(person.photos), int((g_names == person.name).sum()), len(mine),
            sum(p.nearest == p.person for p in mine),
            sum(p.nearest == p.person and p.distance <= fixed for p in mine),
            sum(p.nearest is not None and p.distance <= fixed for p in mine) if is_stranger else 0))
    no_emb = {str(p): how for how, items in (
        ("enrolment photo left out; the person is enrolled with the rest", split.enrol),
        ("known probe counted as not named (and a rank-1 miss)", split.known_probes),
        ("stranger probe left out of the FAR", split.stranger_probes)) for _, p in items}
    problems = photo_problems(photos, no_emb)
    problems += [Problem(p.name, "no_probes", f"all {len(p.photos)} photos are enrolment photos",
                         "known person without probes") for p in people
                 if p.name not in split.strangers and not any(q.person == p.name for q in known)]
    return EngineIdentify(
        engine=name, model_id=stats.model_id,
        rank1=float(np.mean([p.nearest == p.person for p in known])) if known else float("nan"),
        points=points, recommendation=rec, n_people=len(people), n_known=len(people) - len(split.strangers),
        n_strangers=len(split.strangers), n_enrolled_photos=len(enrolled), n_known_probes=len(known),
        n_stranger_probes=len(probes) - len(known), persons=persons, probes=probes,
        photo_status=stats.by_status, problems=problems, stats=stats, photos=photos)
