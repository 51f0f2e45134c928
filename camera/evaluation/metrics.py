"""Pure metric functions on distances: thresholds, accuracy, ROC, open-set rates.

Distances are Euclidean between embeddings (lower is more alike; ``inf``
means "no embedding", which no threshold accepts). A pair or probe is
*accepted* when ``distance <= threshold``. Rates are fractions in [0, 1].
Nothing here touches images, so every function has table tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from camera.geometry import iou_xyxy

__all__ = [
    "Roc", "accuracy_at", "best_threshold", "far_at", "iou_xyxy", "kfold_accuracy", "match_detections",
    "roc", "threshold_at_far",
]


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Fraction of pairs decided right when "same" means ``distance <= threshold``."""
    d, s = np.asarray(distances, float), np.asarray(same, bool)
    if d.size == 0:
        return float("nan")
    return float(np.mean((d <= threshold) == s))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The accuracy-maximising threshold on these pairs.

    Candidates are the midpoints between consecutive distinct finite
    distances, plus one below the smallest and one above the largest; the
    first (smallest) candidate with the highest accuracy wins, so the choice
    is deterministic. Returns ``nan`` for no pairs.
    """
    d, s = np.asarray(distances, float), np.asarray(same, bool)
    finite = np.unique(d[np.isfinite(d)])
    if d.size == 0:
        return float("nan")
    if finite.size == 0:
        return 0.0
    mids = (finite[:-1] + finite[1:]) / 2
    cands = np.concatenate([[finite[0] - 1e-6], mids, [finite[-1] + 1e-6]])
    # accuracy for every candidate at once: same pairs accepted + different pairs rejected.
    order = np.sort(d[s])
    diff = np.sort(d[~s])
    tp = np.searchsorted(order, cands, side="right")
    fp = np.searchsorted(diff, cands, side="right")
    acc = (tp + (diff.size - fp)) / d.size
    return float(cands[int(np.argmax(acc))])


def kfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[list[float], list[float]]:
    """LFW View 2 protocol: for each fold, pick the threshold on the other folds
    (:func:`best_threshold`) and score the fold with it.

    Returns ``(thresholds, accuracies)``, one entry per fold in ascending fold order.
    """
    d, s, f = np.asarray(distances, float), np.asarray(same, bool), np.asarray(folds)
    thresholds, accs = [], []
    for k in np.unique(f):
        train, test = f != k, f == k
        t = best_threshold(d[train], s[train]) if train.any() else best_threshold(d[test], s[test])
        thresholds.append(t)
        accs.append(accuracy_at(d[test], s[test], t))
    return thresholds, accs


def threshold_at_far(impostor: np.ndarray, far: float) -> float:
    """The largest threshold whose false-accept rate on ``impostor`` is at most ``far``.

    With the impostor distances sorted ``s_1 <= ... <= s_m`` and
    ``k = floor(far * m)``, the threshold is the float just below
    ``s_(k+1)``: exactly ``k`` impostors are accepted (fewer when ties
    straddle it). ``inf`` when ``k >= m``; the FAR is only resolved to
    ``1/m``. Raises ``ValueError`` for no impostors or ``far`` outside [0, 1].
    """
    s = np.sort(np.asarray(impostor, float))
    if s.size == 0:
        raise ValueError("threshold_at_far: expected at least one impostor distance, got none")
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"threshold_at_far: expected far in [0, 1], got {far}")
    k = int(np.floor(far * s.size + 1e-9))
    if k >= s.size:
        return float("inf")
    return float(np.nextafter(s[k], -np.inf))


def far_at(impostor: np.ndarray, threshold: float) -> float:
    """Fraction of impostor distances accepted (``<= threshold``); ``nan`` for none."""
    s = np.asarray(impostor, float)
    return float(np.mean(s <= threshold)) if s.size else float("nan")


@dataclass(frozen=True)
class Roc:
    """A ROC curve over thresholds: ``far`` and ``tar`` (n,) at ``thresholds`` (n,) ascending.

    ``auc`` is the area under TAR-vs-FAR (1 is perfect, 0.5 is chance).
    """

    thresholds: np.ndarray
    far: np.ndarray
    tar: np.ndarray
    auc: float

    def tar_at_far(self, far: float) -> float:
        """The best true-accept rate whose FAR is at most ``far``."""
        ok = self.far <= far + 1e-12
        return float(self.tar[ok].max()) if ok.any() else 0.0


def roc(distances: np.ndarray, same: np.ndarray) -> Roc:
    """TAR (same pairs accepted) and FAR (different pairs accepted) at every distinct distance."""
    d, s = np.asarray(distances, float), np.asarray(same, bool)
    finite = np.unique(d[np.isfinite(d)])
    t = np.concatenate([[-np.inf], finite, [np.inf]]) if finite.size else np.array([-np.inf, np.inf])
    pos, neg = np.sort(d[s]), np.sort(d[~s])
    tar = np.searchsorted(pos, t, side="right") / max(pos.size, 1)
    far = np.searchsorted(neg, t, side="right") / max(neg.size, 1)
    # inf distances are never accepted: the last point is capped at what finite thresholds reach.
    tar[-1], far[-1] = tar[-2] if t.size > 1 else 0.0, far[-2] if t.size > 1 else 0.0
    x = np.concatenate([far, [1.0]])
    y = np.concatenate([tar, [1.0]])
    auc = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    return Roc(t, far, tar, auc)


def match_detections(det_xyxy: np.ndarray, det_scores: np.ndarray, gt_xyxy: np.ndarray,
                     gt_ignore: np.ndarray, iou_min: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching, highest score first, each ground-truth box used once.

    Returns ``(det_label, gt_matched)``: ``det_label`` (n,) is ``1`` for a true
    positive, ``0`` for a false positive and ``-1`` for a detection matched to
    an ignored box (counted as neither); ``gt_matched`` (m,) bool.
    """
    n, m = len(det_xyxy), len(gt_xyxy)
    label = np.zeros(n, int)
    matched = np.zeros(m, bool)
    if n == 0 or m == 0:
        return label, matched
    ious = iou_xyxy(det_xyxy, gt_xyxy)
    for i in np.argsort(-np.asarray(det_scores, float), kind="stable"):
        cand = np.where(~matched & (ious[i] >= iou_min))[0]
        if cand.size == 0:
            continue
        j = cand[np.argmax(ious[i, cand])]
        matched[j] = True
        label[i] = -1 if gt_ignore[j] else 1
    return label, matched
