"""Open-set matching: nearest neighbour over all of a person's embeddings, explicit unknown."""

import numpy as np
import pytest

from camera.matching import GalleryIndex, decide, match_embeddings, pairwise_distances
from camera.types import UNKNOWN, Embeddings

MID = "m"


def _index(points: dict[str, list[list[float]]]) -> GalleryIndex:
    names = tuple(sorted(points))
    vecs = [v for n in names for v in points[n]]
    labels = [i for i, n in enumerate(names) for _ in points[n]]
    return GalleryIndex(names, np.array(vecs, float), np.array(labels), MID)


GALLERY = _index({"alice": [[0, 0], [10, 0]], "bob": [[0, 5]]})


@pytest.mark.parametrize(
    ("query", "max_distance", "person", "distance"),
    [
        ([0.1, 0], 0.6, "alice", 0.1),  # nearest embedding of alice
        ([9.7, 0], 0.6, "alice", 0.3),  # alice's *second* embedding counts
        ([0, 4.5], 0.6, "bob", 0.5),
        ([0, 2.5], 0.6, UNKNOWN, 2.5),  # between people, far from both
        ([0, 0.6], 0.6, "alice", 0.6),  # at the threshold: named (<=)
        ([0, 0.6001], 0.6, UNKNOWN, 0.6001),
        ([0, 2.5], 3.0, "alice", 2.5),  # tie broken by name order, stable
    ],
)
def test_decisions(query, max_distance, person, distance):
    (m,) = match_embeddings(Embeddings(np.array([query], float), MID), GALLERY, max_distance)
    assert m.person == person
    assert m.distance == pytest.approx(distance, abs=1e-9)
    assert m.max_distance == max_distance


def test_second_distance_is_the_other_person():
    (m,) = match_embeddings(Embeddings(np.array([[0.0, 1.0]]), MID), GALLERY, 0.6)
    assert m.nearest == "alice" and m.second_distance == pytest.approx(4.0)


def test_empty_gallery_is_unknown_at_infinite_distance():
    (m,) = match_embeddings(Embeddings(np.zeros((1, 128)), MID), GalleryIndex.empty(MID), 0.6)
    assert m.person == UNKNOWN and m.distance == float("inf") and not m.is_known


def test_other_model_is_refused():
    with pytest.raises(ValueError, match="cannot be matched"):
        match_embeddings(Embeddings(np.zeros((1, 2)), "other"), GALLERY, 0.6)


def test_distances_match_numpy_norm():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 128)), rng.normal(size=(7, 128))
    expect = np.linalg.norm(a[:, None] - b[None], axis=2)
    assert np.allclose(pairwise_distances(a, b), expect, atol=1e-9)


def test_decide_with_no_people():
    assert decide(np.zeros(0), (), 0.6).person == UNKNOWN


def test_index_checks_labels():
    with pytest.raises(ValueError, match="labels"):
        GalleryIndex(("a",), np.zeros((2, 2)), np.array([0, 1]), MID)
