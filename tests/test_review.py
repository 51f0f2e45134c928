"""Unknown visits grouped by likeness (camera/events/review.py): the clustering on table cases and real faces."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from camera.config import Config
from camera.events.review import average_linkage, group_unknown
from camera.events.store import Event, EventStore
from camera.service import Service
from camera.types import UNKNOWN


@pytest.mark.parametrize(("points", "cut", "expected"), [
    ([], 1.0, []),
    ([[0.0]], 1.0, [[0]]),
    ([[0.0], [0.5], [10.0]], 1.0, [[0, 1], [2]]),
    ([[0.0], [0.9], [1.8]], 1.0, [[0, 1], [2]]),  # average linkage: 2 is 1.35 from {0, 1} on average
    ([[0.0], [0.9], [1.8]], 1.4, [[0, 1, 2]]),
    ([[0.0], [3.0], [6.0], [9.0]], 1.0, [[0], [1], [2], [3]]),
    ([[0.0], [0.1], [5.0], [5.1], [5.2]], 0.5, [[0, 1], [2, 3, 4]]),
])
def test_average_linkage_cuts_at_the_distance(points: list[list[float]], cut: float, expected: list[list[int]]) -> None:
    got = average_linkage(np.array(points, float).reshape(len(points), 1), cut)
    assert sorted(got) == sorted(expected)


def test_average_linkage_equals_the_naive_dendrogram_cut_on_random_points() -> None:
    """The nearest-neighbour chain gives the same clusters as merging the closest pair, again and again."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        pts = np.concatenate([rng.normal(c, 0.3, (int(rng.integers(1, 6)), 2)) for c in rng.uniform(0, 8, (4, 2))])
        cut = float(rng.uniform(0.3, 2.0))
        assert sorted(average_linkage(pts, cut)) == sorted(_naive(pts, cut))


def _naive(pts: np.ndarray, cut: float) -> list[list[int]]:
    clusters = [[i] for i in range(len(pts))]
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    while len(clusters) > 1:
        best = min(((float(d[np.ix_(a, b)].mean()), i, j) for i, a in enumerate(clusters)
                    for j, b in enumerate(clusters) if i < j))
        if best[0] > cut:
            break
        _, i, j = best
        clusters[i] = sorted(clusters[i] + clusters[j])
        del clusters[j]
    return clusters


def _event(i: int, vectors: np.ndarray, quality: float = 0.5) -> Event:
    t = dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
    return Event(f"{i:032x}", "door", i, UNKNOWN, t, t, 0.0, 1.0, 0.7, quality, None, f"crop{i}", "m", vectors)


def test_groups_are_largest_first_newest_first_with_the_best_crop() -> None:
    a, b = np.zeros(128), np.full(128, 0.2)  # 2.26 apart
    events = [_event(0, a[None]), _event(1, (a + 0.01)[None], 0.9), _event(2, b[None]), _event(3, (a - 0.01)[None]),
              _event(4, np.zeros((0, 128)))]  # no vectors: left out
    groups = group_unknown(events, 0.56)
    assert [len(g.events) for g in groups] == [3, 1]
    assert groups[0].events == (f"{3:032x}", f"{1:032x}", f"{0:032x}")  # newest first
    assert groups[0].representative == f"{1:032x}"  # the best face
    assert 0 < groups[0].spread < 0.2 and groups[1].spread == 0.0


def test_the_service_regroups_exactly_when_the_unknown_visits_change(tmp_path) -> None:
    """Review groups are kept between requests (100,000 events: reading and grouping 2,000 visits is the slow
    part of the review page) and made again when a visit is added, grows, or leaves the list."""
    a, b = np.zeros(128), np.full(128, 0.2)
    t = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

    def add(store: EventStore, i: int, v: np.ndarray) -> str:
        when = t + dt.timedelta(minutes=i)
        return store.add("door", i, UNKNOWN, when, when, 0.0, 1.0, 0.7, 0.5, None, None, v[None], "m").id

    svc = Service(Config(), tmp_path)
    assert svc.review_groups() == []
    with EventStore(tmp_path) as store:
        first = [add(store, 0, a), add(store, 1, a + 0.01), add(store, 2, b)]
    groups = svc.review_groups()
    assert [len(g.events) for g in groups] == [2, 1]
    assert svc.review_groups() is groups  # nothing changed: the same groups, not grouped again
    with EventStore(tmp_path) as store:
        fourth = add(store, 3, a - 0.01)
    assert [len(g.events) for g in svc.review_groups()] == [3, 1]
    with EventStore(tmp_path) as store:  # the stranger's visit grows: its faces now look like the others
        store.update(first[2], t + dt.timedelta(minutes=5), 5.0, vectors=np.stack([a, a + 0.02]))
    assert [len(g.events) for g in svc.review_groups()] == [4]
    svc.dismiss(first[:2])
    assert [g.events for g in svc.review_groups()] == [(fourth, first[2])]  # newest first
