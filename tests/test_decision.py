"""The per-track decision (camera/track/decision.py): table tests of the pure functions."""

import numpy as np
import pytest
from pydantic import ValidationError

from camera.track.config import TrackingConfig
from camera.track.decision import Observation, decide_track, vote, weighted_distances
from camera.types import UNKNOWN

NAMES = ("alice", "bob")
S = TrackingConfig()  # min_quality 0.4, min_votes 3, min_weight 1.5, agreement 0.7, margin 0.06, track mean 0.56
MAX_DISTANCE = 0.6  # dlib's ResNet default, the matching threshold


def obs(alice: float, bob: float, q: float = 0.9) -> Observation:
    return Observation(q, np.array([alice, bob]))


@pytest.mark.parametrize(
    ("observations", "final", "person"),
    [
        ([], False, None),
        ([obs(0.4, 0.8)], False, None),  # one lucky frame names no one
        ([obs(0.4, 0.8)] * 2, False, None),
        ([obs(0.4, 0.8)] * 3, False, "alice"),
        ([obs(0.4, 0.8, q=0.3)] * 5, False, None),  # poor faces do not count at all
        ([obs(0.4, 0.8, q=0.45)] * 3, False, None),  # 3 votes but only 1.35 of quality (< 1.5)
        ([obs(0.4, 0.8, q=0.45)] * 4, False, "alice"),
        ([obs(0.55, 0.58)] * 5, False, None),  # no margin over the second person: not named...
        ([obs(0.55, 0.58)] * 5, True, UNKNOWN),  # ...and unknown once the track ends
        ([obs(0.4, 0.8)] * 3 + [obs(0.8, 0.9)] * 2, False, None),  # 3 of 5 agree: 60% < 70%
        ([obs(0.4, 0.8)] * 3 + [obs(0.8, 0.9)] * 2, True, UNKNOWN),
        ([obs(0.8, 0.9)] * 3, False, UNKNOWN),  # enough good faces agree on no one
        ([obs(0.8, 0.9)] * 2, True, None),  # too little evidence even at the end: no decision
        ([obs(np.inf, 0.5)] * 3, False, "bob"),
        ([obs(0.4, 0.8), obs(np.inf, 0.8), obs(0.4, 0.8)], False, None),  # a negative example vetoed one
    ],
)
def test_decide_track(observations, final, person):
    assert decide_track(observations, NAMES, S, MAX_DISTANCE, final=final).person == person


@pytest.mark.parametrize(
    ("distances", "expected"),
    [(np.array([0.5, 0.7]), "alice"), (np.array([0.7, 0.59]), "bob"), (np.array([0.61, 0.7]), UNKNOWN),
     (np.array([]), UNKNOWN), (np.array([0.6, 0.9]), "alice"), (np.array([np.inf, np.inf]), UNKNOWN)],
)
def test_vote(distances, expected):
    names = NAMES[: distances.size]
    assert vote(distances, names, 0.6) == expected


def test_weighted_distances_weigh_by_quality_and_cap_ruled_out():
    d = weighted_distances([obs(0.2, 0.8, q=1.0), obs(0.6, np.inf, q=0.5)], 2)
    assert d == pytest.approx([(0.2 + 0.3) / 1.5, (0.8 + 0.75) / 1.5])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"min_votes": 0}, "min_votes"), ({"min_agreement": 1.5}, "min_agreement")],
)
def test_settings_are_checked(kwargs, error):
    with pytest.raises(ValidationError, match=error):
        TrackingConfig(**kwargs)


@pytest.mark.parametrize(
    ("quality", "distances", "error"),
    [(1.2, np.zeros(2), "quality"), (0.5, np.zeros((2, 2)), "distances")],
)
def test_observation_is_checked(quality, distances, error):
    with pytest.raises(ValueError, match=error):
        Observation(quality, distances)


def test_decision_reports_margin_and_votes():
    d = decide_track([obs(0.4, 0.7)] * 4, NAMES, S, MAX_DISTANCE)
    assert d.person == "alice" and d.votes == 4 and d.good == 4
    assert d.distance == pytest.approx(0.4) and d.margin == pytest.approx(0.3)


def small(alice: float, bob: float, px: float = 40.0) -> Observation:
    return Observation(0.9, np.array([alice, bob]), face_px=px)


@pytest.mark.parametrize(("observations", "final", "person"), [
    ([small(0.65, 0.8)] * 4, False, None),  # far away and far from everyone: not yet a stranger...
    ([small(0.65, 0.8)] * 4, True, None),  # ...nor when the track ends (the far shot of a family member)
    ([small(0.65, 0.8, px=60)] * 4, False, UNKNOWN),  # big enough to tell
    ([small(0.5, 0.8)] * 3, False, "alice"),  # small faces still name someone, at the same strict mean
    ([small(0.65, 0.8)] * 2 + [small(0.65, 0.8, px=80)] * 3, True, UNKNOWN),  # the stranger came closer
])
def test_only_faces_big_enough_make_a_track_unknown(observations, final, person):
    assert decide_track(observations, NAMES, S, 0.6, final=final).person == person
