"""Unknown visits grouped by likeness, so that one answer ("these 14 visits are the postman") labels them all.

Each unknown visit is its faces' mean descriptor; visits are grouped by
average-linkage agglomerative clustering cut at ``max_distance`` (Euclidean,
the camera's matching threshold): two groups join while the mean distance
between their visits is at most that, so a group holds visits that look like
one person to the matcher itself. The clustering is the nearest-neighbour
chain algorithm (O(n²) time and memory for n visits; average linkage is
reducible, so cutting the chain's merges at ``max_distance`` gives the
dendrogram's cut), run on each connected component of the "within
``max_distance``" graph on its own: an average-linkage group never spans two
components (a group's mean distance is at least its closest pair's), and
components are small (one person's visits), so 2,000 visits take
milliseconds, not the whole matrix's chain. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camera.events.store import Event
from camera.matching import pairwise_distances


@dataclass(frozen=True)
class ReviewGroup:
    """Unknown visits that look alike: their ids (newest first), how alike (``spread``: the largest distance of
    a visit to the group's mean, 0 for one visit), and the visit whose face crop best shows them."""

    events: tuple[str, ...]
    spread: float
    representative: str


def average_linkage(vectors: np.ndarray, max_distance: float) -> list[list[int]]:
    """Clusters of the rows of ``vectors`` (n, d), as lists of row indices, cut at ``max_distance``."""
    if len(vectors) == 0:
        return []
    d = pairwise_distances(vectors, vectors, np.float32)
    np.fill_diagonal(d, np.inf)
    clusters = []
    for part in _components(d <= max_distance):
        sub = d[np.ix_(part, part)].astype(np.float64)
        np.fill_diagonal(sub, 0.0)
        if sub.max() <= max_distance:  # every pair within the cut: every average is too, one group
            clusters.append([int(i) for i in part])
            continue
        np.fill_diagonal(sub, np.inf)
        clusters += [sorted(int(part[i]) for i in c) for c in _chain(sub, max_distance)]
    return clusters


def _components(adjacent: np.ndarray) -> list[np.ndarray]:
    """The connected components of the graph whose adjacency matrix is ``adjacent`` (n, n), as index arrays."""
    n = len(adjacent)
    label = np.full(n, -1)
    parts = []
    for start in range(n):
        if label[start] >= 0:
            continue
        label[start] = len(parts)
        frontier = np.array([start])
        while len(frontier):
            reached = adjacent[frontier].any(axis=0) & (label < 0)
            frontier = np.flatnonzero(reached)
            label[frontier] = len(parts)
        parts.append(np.flatnonzero(label == len(parts)))
    return parts


def _chain(d: np.ndarray, max_distance: float) -> list[list[int]]:
    """Average-linkage clusters of one component, from its distance matrix ``d`` (inf on the diagonal; changed)."""
    n = len(d)
    size = np.ones(n)
    open_ = np.ones(n, bool)  # still merging
    members: list[list[int]] = [[i] for i in range(n)]
    done: list[int] = []
    chain: list[int] = []
    while open_.sum() > 1:
        if not chain:
            chain = [int(np.flatnonzero(open_)[0])]
        a = chain[-1]
        row = np.where(open_, d[a], np.inf)
        b = int(np.argmin(row))
        if len(chain) > 1 and row[chain[-2]] <= row[b]:
            b = chain[-2]
        if not np.isfinite(row[b]) or row[b] > max_distance:  # a is as far from everyone as it will ever be
            open_[a] = False
            done.append(a)
            chain.pop()
            continue
        if len(chain) > 1 and b == chain[-2]:  # reciprocal nearest neighbours: merge b into a
            chain = chain[:-2]
            merged = (size[a] * d[a] + size[b] * d[b]) / (size[a] + size[b])
            d[a], d[:, a] = merged, merged
            d[a, a] = np.inf
            size[a] += size[b]
            open_[b] = False
            members[a] += members[b]
            members[b] = []
        else:
            chain.append(b)
    done += [int(i) for i in np.flatnonzero(open_)]
    return [sorted(members[i]) for i in done if members[i]]


def group_unknown(events: Sequence[Event], max_distance: float) -> list[ReviewGroup]:
    """Unknown visits grouped by likeness, the largest group first (events without vectors are left out)."""
    usable = [e for e in events if len(e.vectors)]
    if not usable:
        return []
    dim = min(len(e.vectors[0]) for e in usable)
    usable = [e for e in usable if len(e.vectors[0]) == dim]  # one model's vectors only
    means = np.stack([e.vectors.mean(axis=0) for e in usable])
    groups = []
    for idx in average_linkage(means, max_distance):
        members = sorted((usable[i] for i in idx), key=lambda e: (e.start, e.id), reverse=True)
        centre = means[idx].mean(axis=0)
        spread = float(np.linalg.norm(means[idx] - centre, axis=1).max())
        best = max(members, key=lambda e: (e.crop is not None, e.quality))
        groups.append(ReviewGroup(tuple(e.id for e in members), spread, best.id))
    return sorted(groups, key=lambda g: (-len(g.events), g.events[0]))
