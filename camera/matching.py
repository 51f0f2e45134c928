"""Open-set matching as pure functions.

A face is compared with every stored embedding of every person; a person's
distance is the smallest over their embeddings (nearest neighbour). The face
is named only when that distance is at most ``max_distance`` (Euclidean,
lower is more alike); otherwise the result is the explicit :data:`UNKNOWN`.
Squared distances come from one matrix product: ``|a|² + |b|² - 2ab``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from camera.configmodel import ConfigModel
from camera.types import UNKNOWN, Embeddings, Match


class MatchingConfig(ConfigModel):
    """When a face counts as an enrolled person."""

    max_distance: float | None = Field(
        None, gt=0.0, le=2.0,
        description="name a face only when its Euclidean distance to the person is at most this "
                    "(lower: stricter); default: the model's own (0.6 for dlib's ResNet)")


@dataclass(frozen=True)
class GalleryIndex:
    """Everything matching needs, snapshotted from the gallery.

    ``vectors`` (n, d) float64; ``labels`` (n,) int indexes into ``names``;
    ``model_id`` is the model the vectors came from.
    """

    names: tuple[str, ...]
    vectors: np.ndarray
    labels: np.ndarray
    model_id: str

    def __post_init__(self) -> None:
        n = self.vectors.shape[0]
        if self.vectors.ndim != 2:
            raise ValueError(f"GalleryIndex.vectors: expected (n, d), got {self.vectors.shape}")
        if self.labels.shape != (n,):
            raise ValueError(f"GalleryIndex.labels: expected ({n},), got {self.labels.shape}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.names)):
            raise ValueError("GalleryIndex.labels: every label must index into names")

    @classmethod
    def empty(cls, model_id: str, dim: int = 128) -> GalleryIndex:
        return cls((), np.zeros((0, dim)), np.zeros((0,), np.int64), model_id)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


def pairwise_distances(a: np.ndarray, b: np.ndarray, dtype: type[np.floating] = np.float64) -> np.ndarray:
    """Euclidean distances (m, n) between rows of ``a`` (m, d) and ``b`` (n, d), computed in ``dtype``
    (float32: half the memory and time for large matrices, ~1e-6 off)."""
    a = np.asarray(a, dtype)
    b = np.asarray(b, dtype)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0, out=sq), out=sq)


def person_distances(queries: np.ndarray, index: GalleryIndex) -> np.ndarray:
    """(m, p) distance of each query to each person: the minimum over their embeddings.

    A person with no embeddings gets ``inf``.
    """
    m, p = queries.shape[0], len(index.names)
    out = np.full((m, p), np.inf)
    if len(index) == 0 or m == 0:
        return out
    d = pairwise_distances(queries, index.vectors)
    for j in range(p):
        cols = index.labels == j
        if cols.any():
            out[:, j] = d[:, cols].min(axis=1)
    return out


def match_embeddings(embeddings: Embeddings, index: GalleryIndex, max_distance: float) -> list[Match]:
    """One :class:`Match` per embedding (open set).

    Raises ``ValueError`` when the embeddings and the gallery come from
    different models: such vectors are not comparable.
    """
    if len(embeddings) and len(index) and embeddings.model_id != index.model_id:
        raise ValueError(f"embeddings from model {embeddings.model_id!r} cannot be matched "
                         f"against a gallery of {index.model_id!r}")
    dist = person_distances(embeddings.vectors, index)
    return [decide(row, index.names, max_distance) for row in dist]


def decide(distances: np.ndarray, names: tuple[str, ...], max_distance: float) -> Match:
    """The open-set decision from one face's per-person distances (p,)."""
    if distances.size == 0:
        return Match(UNKNOWN, float("inf"), max_distance)
    order = np.argsort(distances, kind="stable")
    best = int(order[0])
    d1 = float(distances[best])
    d2 = float(distances[order[1]]) if distances.size > 1 else float("inf")
    person = names[best] if d1 <= max_distance else UNKNOWN
    return Match(person, d1, max_distance, nearest=names[best], second_distance=d2)


def apply_negatives(queries: np.ndarray, distances: np.ndarray, names: tuple[str, ...],
                    negatives: GalleryIndex, radius: float = 0.0) -> np.ndarray:
    """Per-person distances (m, p) with the people a face was labelled "not" ruled out (``inf``).

    ``queries`` (m, d) are the faces, ``distances`` their (m, p) distances to
    ``names`` (from :func:`person_distances`), ``negatives`` the faces people
    said were *not* a given person (``facecam label EVENT --not NAME``). A
    face is ruled out for NAME when it is nearer to one of NAME's negative
    examples than to NAME's own photos, or within ``radius`` of one (0:
    only the first rule). Everyone else's distances are unchanged.
    """
    out = np.array(distances, np.float64, copy=True)
    if len(negatives) == 0 or out.size == 0:
        return out
    neg = person_distances(queries, negatives)  # (m, q) for negatives.names
    for k, name in enumerate(negatives.names):
        if name not in names:
            continue
        j = names.index(name)
        ruled_out = (neg[:, k] < out[:, j]) | (neg[:, k] <= radius)
        out[ruled_out, j] = np.inf
    return out
