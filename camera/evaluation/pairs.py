"""Verification on pairs: is this the same person? (LFW protocols, CSV pairs).

Protocols, chosen by the input:

* ``train/test`` (``train`` given; LFW View 1): the accuracy-maximising
  threshold is chosen on the train pairs and the test pairs are scored with
  it. ``accuracy_std`` is the spread over 10 disjoint, class-stratified
  subsets of the test pairs at that fixed threshold.
* ``10-fold`` (a pairs file with folds; LFW View 2): for each fold the
  threshold is chosen on the other folds and the fold is scored; mean and
  standard deviation over folds.
* ``cross-validated`` (one file without folds, e.g. a CSV): the same as
  10-fold on ``folds`` class-stratified folds made from file order.

A pair is "same" when the Euclidean distance is at or below the threshold.
A pair with a photo that gave no embedding (missing, unreadable, no face)
has distance ``inf``: it is scored as "different" (an error for a same
pair) and stays in the denominator; it is also listed per photo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camera.evaluation.common import RunOptions, photo_problems
from camera.evaluation.datasets import Pair, PairSet, Problem, read_pairs
from camera.evaluation.extract import ExtractStats, FacePolicy, FaceResult, embed_photos, get_engine
from camera.evaluation.metrics import accuracy_at, best_threshold, kfold_accuracy, roc

log = logging.getLogger(__name__)

__all__ = ["EnginePairs", "FoldScore", "PairScore", "PairsResult", "evaluate_pairs", "score_pairs",
           "stratified_folds"]

#: Default face policy for pairs: LFW photos are aligned crops of one central face.
PAIRS_POLICY = FacePolicy(select="central", fallback_upsample=True, fallback_box=True)

#: FARs at which the report quotes the true-accept rate.
FAR_POINTS = (0.001, 0.01, 0.1)


@dataclass(frozen=True)
class PairScore:
    """One scored pair: ``distance`` (Euclidean; ``inf`` without both embeddings),
    the ``threshold`` it was judged with, and ``split`` (``train``/``test``)."""

    a: str
    b: str
    same: bool
    fold: int
    split: str
    distance: float
    threshold: float
    source: str

    @property
    def correct(self) -> bool:
        return (self.distance <= self.threshold) == self.same


@dataclass(frozen=True)
class FoldScore:
    """A held-out fold (or the whole test set): threshold chosen elsewhere, accuracy here."""

    fold: int
    threshold: float
    accuracy: float
    n: int


@dataclass(frozen=True)
class EnginePairs:
    """One engine's verification result; accuracies are fractions of pairs.

    ``threshold`` is the train threshold (train/test) or the median of the
    per-fold thresholds (folds); Euclidean, "same" at or below it.
    ``pairs`` counts the scored (test) pairs.
    """

    engine: str
    model_id: str
    protocol: str
    accuracy_mean: float
    accuracy_std: float
    pairs: int
    threshold: float
    folds: list[FoldScore]
    default_max_distance: float
    accuracy_at_default: float
    accuracy_with_both_faces: float
    pairs_without_embedding: int
    auc: float
    tar_at_far: dict[str, float]
    train_accuracy: float | None
    scores: list[PairScore]
    photo_status: dict[str, int]
    problems: list[Problem]
    stats: ExtractStats
    photos: dict[str, FaceResult] = field(repr=False, default_factory=dict, metadata={"json": False})


@dataclass(frozen=True)
class PairsResult:
    """Every engine on the same pairs; ``problems`` are the pairs-file problems."""

    test_file: str
    train_file: str | None
    protocol: str
    policy: str
    settings: str
    engines: list[EnginePairs]
    problems: list[Problem]


def stratified_folds(same: np.ndarray, k: int) -> np.ndarray:
    """Fold numbers 0..k-1 dealt in turn within each class, in file order."""
    same = np.asarray(same, bool)
    folds = np.zeros(same.size, int)
    for cls in (True, False):
        idx = np.where(same == cls)[0]
        folds[idx] = np.arange(idx.size) % k
    return folds


def evaluate_pairs(pairs_file: Path, options: RunOptions, train_file: Path | None = None,
                   root: Path | None = None, limit: int | None = None, folds: int = 10,
                   policy: FacePolicy = PAIRS_POLICY) -> PairsResult:
    """Run every engine in ``options`` on the pairs (see the module docstring for protocols).

    ``limit`` keeps the first ``ceil(limit/2)`` same and ``floor(limit/2)``
    different pairs of each file (for quick runs). ``root`` is the LFW photo
    folder or the CSV base folder.
    """
    test = read_pairs(pairs_file, root).limited(limit)
    train = read_pairs(train_file, root).limited(limit) if train_file else None
    if train is not None:
        protocol = "train/test"
    elif test.n_folds > 1:
        protocol = f"{test.n_folds}-fold"
    else:
        protocol = f"cross-validated ({folds} folds)"
    all_pairs = list(test.pairs) + (list(train.pairs) if train else [])
    paths = [p for pair in all_pairs for p in (pair.path_a, pair.path_b)]
    engines = []
    for name in options.engines:
        photos, stats = embed_photos(paths, name, options.settings_for(name), policy, options.cache_dir,
                                     options.workers, options.progress)
        default_t = get_engine(name, options.settings_for(name)).embedder.default_max_distance
        engines.append(score_pairs(name, stats, photos, test, train, protocol, folds, default_t))
    problems = list(test.problems) + (list(train.problems) if train else [])
    return PairsResult(str(pairs_file), str(train_file) if train_file else None, protocol,
                       policy.describe(), options.describe_settings(), engines, problems)


def _distances(pairs: tuple[Pair, ...], photos: dict[str, FaceResult]) -> np.ndarray:
    out = np.full(len(pairs), np.inf)
    for i, p in enumerate(pairs):
        a, b = photos[str(p.path_a)].vector, photos[str(p.path_b)].vector
        if a is not None and b is not None:
            out[i] = float(np.linalg.norm(a - b))
    return out


def score_pairs(name: str, stats: ExtractStats, photos: dict[str, FaceResult], test: PairSet,
                train: PairSet | None, protocol: str, n_folds: int, default_t: float) -> EnginePairs:
    """Score one engine's embedded photos on ``test`` (and ``train``) under ``protocol``.

    ``photos`` maps ``str(path)`` to its :class:`FaceResult` for every photo
    the pairs name; ``default_t`` is the model's own threshold (Euclidean).
    """
    d = _distances(test.pairs, photos)
    same = np.array([p.same for p in test.pairs], bool)
    scores: list[PairScore] = []
    train_acc = None
    if train is not None:
        dt = _distances(train.pairs, photos)
        st = np.array([p.same for p in train.pairs], bool)
        t = best_threshold(dt, st)
        train_acc = accuracy_at(dt, st, t)
        sub = stratified_folds(same, 10)
        fold_scores = [FoldScore(-1, t, accuracy_at(d, same, t), int(d.size))]
        per_subset = [accuracy_at(d[sub == k], same[sub == k], t) for k in np.unique(sub)]
        mean, std = fold_scores[0].accuracy, float(np.std(per_subset)) if per_subset else float("nan")
        fold_of = sub
        thresholds = np.full(d.size, t)
        scores += [PairScore(str(p.path_a), str(p.path_b), p.same, -1, "train", float(x), t, p.source)
                   for p, x in zip(train.pairs, dt, strict=True)]
        final_t = t
    else:
        fold_of = (np.array([p.fold for p in test.pairs], int) if test.n_folds > 1
                   else stratified_folds(same, n_folds))
        ts, accs = kfold_accuracy(d, same, fold_of)
        ks = np.unique(fold_of)
        fold_scores = [FoldScore(int(k), t, a, int((fold_of == k).sum())) for k, t, a in zip(ks, ts, accs, strict=True)]
        mean = float(np.mean(accs)) if accs else float("nan")
        std = float(np.std(accs)) if accs else float("nan")
        by_fold = dict(zip(ks.tolist(), ts, strict=True))
        thresholds = np.array([by_fold[int(k)] for k in fold_of]) if d.size else np.zeros(0)
        final_t = float(np.median(ts)) if ts else float("nan")
    scores += [PairScore(str(p.path_a), str(p.path_b), p.same, int(f), "test", float(x), float(t), p.source)
               for p, x, f, t in zip(test.pairs, d, fold_of, thresholds, strict=True)]
    both = np.isfinite(d)
    curve = roc(d, same)
    return EnginePairs(
        engine=name, model_id=stats.model_id, protocol=protocol, accuracy_mean=mean, accuracy_std=std,
        pairs=int(d.size), threshold=final_t, folds=fold_scores, default_max_distance=default_t,
        accuracy_at_default=accuracy_at(d, same, default_t),
        accuracy_with_both_faces=float(np.mean((d[both] <= thresholds[both]) == same[both]))
        if both.any() else float("nan"),
        pairs_without_embedding=int((~both).sum()), auc=curve.auc,
        tar_at_far={f"{f:g}": curve.tar_at_far(f) for f in FAR_POINTS}, train_accuracy=train_acc,
        scores=scores, photo_status=stats.by_status,
        problems=photo_problems(photos, "every pair using it has distance inf and is scored 'different'"),
        stats=stats, photos=photos)
