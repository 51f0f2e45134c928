"""Tracking (camera/track/tracker.py), presence (camera/events/presence.py) and negative examples in matching: pure parts."""

import datetime as dt

import numpy as np
import pytest

from camera.events.config import PresenceConfig
from camera.events.presence import ARRIVED, LEFT, PresenceBoard, on_seen, on_tick
from camera.events.visits import VisitBook
from camera.matching import GalleryIndex, apply_negatives, person_distances
from camera.track.config import TrackingConfig
from camera.track.decision import Observation, TrackDecision
from camera.track.quality import Quality
from camera.track.tracker import (
    Candidate,
    EmbeddedFace,
    Track,
    Tracker,
    associate,
    embed_due,
    iou_matrix,
    undecided,
)
from camera.types import UNKNOWN, Detections, Frame

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [([0, 0, 10, 10], [0, 0, 10, 10], 1.0), ([0, 0, 10, 10], [5, 0, 15, 10], 1 / 3),
     ([0, 0, 10, 10], [20, 20, 30, 30], 0.0), ([0, 0, 10, 10], [2, 2, 8, 8], 0.36)],
)
def test_iou(a, b, expected):
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("tracks", "dets", "pairs"),
    [
        ([], [[0, 0, 10, 10]], []),
        ([[0, 0, 100, 100]], [[10, 10, 110, 110]], [(0, 0)]),  # overlap
        ([[0, 0, 100, 100]], [[60, 0, 160, 100]], [(0, 0)]),  # moved 0.6 face sizes: still the same face
        ([[0, 0, 100, 100]], [[300, 0, 400, 100]], []),  # too far
        ([[0, 0, 100, 100]], [[0, 0, 30, 30]], []),  # a much smaller face is someone else
        ([[0, 0, 100, 100], [200, 0, 300, 100]], [[205, 0, 305, 100], [5, 0, 105, 100]], [(0, 1), (1, 0)]),
    ],
)
def test_associate(tracks, dets, pairs):
    assert associate(np.array(tracks, float), np.array(dets, float), 0.3, 0.75) == pairs


def frame(t: float) -> Frame:
    return Frame(np.zeros((8, 8, 3), np.uint8), int(t * 10), t, T0 + dt.timedelta(seconds=t))


def quality(v: float) -> Quality:
    return Quality(v, 100, 100, 1, 0)


def dets(*boxes: list[float]) -> Detections:
    return Detections(np.array(boxes, np.float32), np.ones(len(boxes), np.float32))


def face(box: np.ndarray) -> Detections:
    return Detections(np.asarray(box, np.float32)[None], np.ones(1, np.float32))


def test_tracker_keeps_ids_starts_new_tracks_and_ends_them_after_the_gap():
    tr = Tracker("door", TrackingConfig(max_gap_s=1.0))
    seen = tr.update(frame(0.0), dets([0, 0, 100, 100]), [quality(0.5)])
    assert [t.id for t in seen] == [1]
    seen = tr.update(frame(0.2), dets([10, 0, 110, 100], [300, 0, 400, 100]), [quality(0.9), quality(0.5)])
    assert [t.id for t in seen] == [1, 2]
    assert seen[0].pending is not None and seen[0].pending.quality.value == 0.9  # the better face waits
    assert tr.expire(1.1) == []
    assert [t.id for t in tr.expire(1.3)] == [1, 2]
    assert tr.tracks == []


def embedded(track: Track, t: float, vec: np.ndarray) -> None:
    c = Candidate(frame(t), face(track.box_xyxy), quality(0.9))
    track.embedded.append(EmbeddedFace(c, vec, Observation(0.9, np.array([0.5]), t)))


def test_link_folds_a_new_track_into_a_lost_one_that_looks_the_same():
    tr = Tracker("door", TrackingConfig(max_gap_s=2.0))
    (old,) = tr.update(frame(0.0), dets([0, 0, 100, 100]), [quality(0.9)])
    embedded(old, 0.0, np.zeros(128))
    (new,) = tr.update(frame(0.5), dets([400, 0, 500, 100]), [quality(0.9)])
    assert new.id == 2
    embedded(new, 0.5, np.full(128, 0.01))  # 0.11 away: the same person
    assert tr.link(new) is old and [t.id for t in tr.tracks] == [1] and len(old.embedded) == 2
    (other,) = tr.update(frame(0.7), dets([0, 200, 100, 300]), [quality(0.9)])
    embedded(other, 0.7, np.full(128, 0.1))  # 1.13 away: someone else
    assert tr.link(other) is other and len(tr.tracks) == 2


def test_a_track_that_keeps_absorbing_lost_tracks_stays_bounded() -> None:
    """Regression (soak): each track folded into a live one added its faces to it, so someone whose box
    jumped now and then for hours grew one track's faces, and their vectors, without end."""
    tr = Tracker("door", TrackingConfig(max_gap_s=2.0, max_embeddings=4))
    (old,) = tr.update(frame(0.0), dets([0, 0, 100, 100]), [quality(0.5)])
    best = EmbeddedFace(Candidate(frame(0.0), face(old.box_xyxy), quality(0.95)), np.zeros(128),
                        Observation(0.95, np.array([0.5]), 0.0))
    tr.add_embedded(old, best)
    for k in range(1, 50):  # the face jumps between two places: a new track each time, folded into the old one
        t = 0.1 * k
        (new,) = tr.update(frame(t), dets([400 * (k % 2), 0, 400 * (k % 2) + 100, 100]), [quality(0.5)])
        assert new is not old
        c = Candidate(frame(t), face(new.box_xyxy), quality(0.5))
        assert tr.add_embedded(new, EmbeddedFace(c, np.full(128, 0.01), Observation(0.5, np.array([0.5]), t))) is old
    assert [t.id for t in tr.tracks] == [1]
    assert len(old.embedded) == 4 and old.best is best and best.candidate.frame is not None
    assert [e.observation.timestamp_s for e in old.embedded][1:] == pytest.approx([4.7, 4.8, 4.9])  # the newest


@pytest.mark.parametrize(
    ("pending_q", "n_embedded", "last_embed", "decision", "now", "expected"),
    [
        (None, 0, None, None, 0.0, False),
        (0.9, 0, None, None, 0.0, True),  # the first good face is embedded at once
        (0.2, 0, None, None, 0.0, False),  # a poor face never is
        (0.9, 1, 0.0, None, 0.05, True),  # undecided: every frame (embed_interval_s 0)
        (0.9, 8, 0.0, None, 0.5, False),  # eight faces and still undecided (far away): slower...
        (0.9, 8, 0.0, None, 1.0, True),  # ...a face a second, the newest replacing the oldest
        (0.9, 3, 0.0, "alice", 0.5, False),  # named: no more votes...
        (0.9, 3, 0.0, "alice", 1.0, True),  # ...but a check now and then that it still is alice
        (0.9, 8, 0.0, "alice", 5.0, True),  # (checks do not count against the budget)
        (0.9, 3, 0.0, UNKNOWN, 0.5, False),  # unknown: a recheck now and then
        (0.9, 3, 0.0, UNKNOWN, 1.0, True),
    ],
)
def test_embed_due(pending_q, n_embedded, last_embed, decision, now, expected):
    t = a_track(pending_q, n_embedded, decision)
    t.last_embed_s = last_embed
    assert embed_due(t, now, TrackingConfig()) is expected


def test_a_window_of_embed_interval_s_takes_one_face() -> None:
    t = a_track(0.9, 1, None)
    t.last_embed_s = 0.0
    every = TrackingConfig(embed_interval_s=0.1)
    assert not embed_due(t, 0.05, every) and embed_due(t, 0.1, every)


def a_track(pending_q: float | None, n_embedded: int, decision: str | None) -> Track:
    """A track with a waiting face of quality ``pending_q``, ``n_embedded`` faces and ``decision`` (a name,
    UNKNOWN, "undecided" for a decision that names no one yet, or None for none)."""
    t = Track(1, "door", 0.0, 0.0, T0, T0, np.array([0, 0, 100, 100], float))
    if pending_q is not None:
        t.pending = Candidate(frame(0.0), face(t.box_xyxy), quality(pending_q))
    for _ in range(n_embedded):
        embedded(t, 0.0, np.zeros(128))
    if decision is not None:
        person = None if decision == "undecided" else decision
        t.decision = TrackDecision(person, 0.4, "alice", 0.2, 3, 2.7, 3)
    return t


@pytest.mark.parametrize(("pending_q", "n_embedded", "decision", "expected"), [
    (0.9, 0, None, True),  # a new face good enough to embed: look closely
    (0.2, 0, None, False),  # a poor face (a profile, a blur) does not make the detector race
    (None, 1, None, True),  # embedded once, waiting for more votes
    (None, 2, "undecided", True),
    (None, 3, "alice", False),  # named
    (None, 3, UNKNOWN, False),  # ruled unknown: rechecks come at their own pace
    (0.9, 8, "undecided", False),  # no room for more faces
])
def test_undecided_tracks_are_the_ones_the_detector_looks_at_closely(pending_q, n_embedded, decision, expected):
    assert undecided(a_track(pending_q, n_embedded, decision), TrackingConfig()) is expected


def test_presence_arrives_once_and_leaves_after_the_absence():
    board = PresenceBoard(PresenceConfig(away_after_s=10))
    assert board.seen("alice", "door", 0.0, T0) == ARRIVED
    assert board.seen("alice", "door", 5.0, T0) is None
    assert board.tick("door", 14.0, T0) == []
    assert board.tick("garden", 100.0, T0) == []  # another camera's clock does not decide
    left = board.tick("door", 15.0, T0)
    assert [s.person for s in left] == ["alice"] and not board.is_home("alice")
    assert board.seen("alice", "door", 20.0, T0) == ARRIVED


@pytest.mark.parametrize(
    ("home", "camera", "t", "expected"),
    [(True, "door", 9.9, None), (True, "door", 10.0, LEFT), (False, "door", 50.0, None), (True, "yard", 50.0, None)],
)
def test_on_tick(home, camera, t, expected):
    state, _ = on_seen(None, "alice", "door", 0.0, T0)
    if not home:
        state, _ = on_tick(state, "door", 100.0, T0, 10.0)
    assert on_tick(state, camera, t, T0, 10.0)[1] == expected


def test_negative_rules_out_only_the_person_it_was_labelled_against():
    names = ("alice", "bob")
    gallery = GalleryIndex(names, np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([0, 1]), "m")
    negatives = GalleryIndex(("alice",), np.array([[0.0, 0.5]]), np.array([0]), "m")
    queries = np.array([[0.0, 0.45], [0.0, 0.1], [0.0, -0.3]])
    d = person_distances(queries, gallery)
    out = apply_negatives(queries, d, names, negatives)
    assert np.isinf(out[0, 0])  # nearer the negative (0.05) than alice's photo (0.45): not alice
    assert out[1, 0] == pytest.approx(0.1)  # nearer alice's photo: still alice
    np.testing.assert_allclose(out[:, 1], d[:, 1])  # bob unchanged
    assert out[2, 0] == pytest.approx(0.3)
    assert np.isinf(apply_negatives(queries, d, names, negatives, radius=0.85)[2, 0])  # within the radius
    assert np.array_equal(apply_negatives(queries, d, names, GalleryIndex.empty("m", 2)), d)


def test_a_named_track_whose_face_is_someone_else_is_split() -> None:
    """Regression: a track named lin_manuel_miranda went on through the clip's cut to the audience, and the
    live view drew his name on another face (and his presence was kept fresh by a stranger)."""
    tr = Tracker("door", TrackingConfig())
    (track,) = tr.update(frame(0.0), dets([0, 0, 100, 100]), [quality(0.9)])
    tr.decide(track, TrackDecision("alice", 0.4, "alice", 0.2, 3, 2.7, 3))
    c = Candidate(frame(1.0), face(track.box_xyxy), quality(0.9))
    other = EmbeddedFace(c, np.full(128, 0.3), Observation(0.9, np.array([0.9]), 1.0))
    ended, new = tr.split(track, other)
    assert ended is track and new.id == 2 and tr.tracks == [new] and new.decision is None
    assert len(new.embedded) == 1 and new.first_s == 1.0


def test_a_track_split_from_a_visit_continues_it_though_it_started_before_the_visit_ended() -> None:
    """Regression: a named track that turns out to show another face of the same person splits
    (Tracker.split); the new track starts at the face that split it off, which may be older than the ended
    track's last frame, and it was counted as a new visit ("recognised" again) instead of the same one."""
    book = VisitBook(PresenceBoard(PresenceConfig(away_after_s=10)), cooldown_s=1.0, alert_unknown=True,
                     model_id="m")
    names = ("alice",)
    tr = Tracker("door", TrackingConfig())
    (old,) = tr.update(frame(0.0), dets([0, 0, 100, 100]), [quality(0.9)])
    embedded(old, 0.0, np.zeros(128))
    old.decision = TrackDecision("alice", 0.4, "alice", 0.2, 3, 2.7, 3)
    first = book.decided(old, False, names)
    assert [type(e).__name__ for e in first] == ["OpenEvent", "SavePresence", "Alert"]
    old.last_s = 2.0  # seen until 2.0 s; the face that splits it off is from 1.5 s
    c = Candidate(frame(1.5), face(old.box_xyxy), quality(0.9))
    ended, new = tr.split(old, EmbeddedFace(c, np.ones(128), Observation(0.9, np.array([0.4]), 1.5)))
    book.ended(ended, names)
    new.decision = TrackDecision("alice", 0.4, "alice", 0.2, 3, 2.7, 3)
    assert new.first_s < ended.last_s
    assert book.decided(new, False, names) == []  # the same visit: no event, no alert
    later = Track(9, "door", 3.5, 3.5, T0, T0, np.array([0, 0, 100, 100], float))  # 1.5 s after: a new visit
    later.decision = TrackDecision("alice", 0.4, "alice", 0.2, 3, 2.7, 3)
    embedded(later, 3.5, np.zeros(128))
    assert [type(e).__name__ for e in book.decided(later, False, names)] == ["OpenEvent", "Alert"]
