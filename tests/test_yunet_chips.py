"""Face chips cut from YuNet's own five points (no shape predictor), on real photos, with the real models.

The chip must be the one dlib's ResNet knows: its descriptor lands near the
descriptor of the pipeline's chip (dlib's 5-point predictor on YuNet's box).
A wrong point order (the eyes or the mouth corners swapped, or YuNet's points
read with dlib's template) must give a chip the ResNet calls someone else, so
these tests fail if the order in ``LandmarkScheme.EYES_NOSE_MOUTH``,
``Detections.from_yunet`` or ``TEMPLATE_EYES_NOSE_MOUTH`` goes wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from camera.detect.config import DetectConfig
from camera.detect.yunet import YuNetDetector
from camera.dlibport.align import (
    TEMPLATE_5,
    TEMPLATE_EYES_NOSE_MOUTH,
    face_chip_details,
    face_chips,
    face_chips_from_landmarks,
    template_coordinates,
)
from camera.embed import create_embedder
from camera.embed.resnet import ResnetEmbedder
from camera.imageio import load_image
from camera.types import Landmarks, LandmarkScheme
from tests.conftest import AGEITGEY, YUNET

#: photos with one or two clear faces; every face YuNet finds in them is checked
PHOTOS = [AGEITGEY / "identities" / "obama" / "obama-480p.jpg",
          AGEITGEY / "identities" / "alex_lacamoire" / "alex-lacamoire.png",
          AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png",
          AGEITGEY / "knn_examples" / "test" / "obama_and_biden.jpg",
          AGEITGEY / "multi" / "two_people.jpg"]
#: the ResNet's own threshold (Euclidean): above it, another person
THRESHOLD = 0.6
#: farther than this is farther than two photos of one person usually are (LFW View 1 DevTest: median 0.43)
FAR = 0.5
#: wrong orders of YuNet's points (indices into its EYES_NOSE_MOUTH order)
WRONG_ORDERS = {"eyes swapped": [1, 0, 2, 3, 4], "mouth corners swapped": [0, 1, 2, 4, 3],
                "left and right swapped": [1, 0, 2, 4, 3]}


@pytest.fixture(scope="module")
def embedder() -> ResnetEmbedder:
    e = create_embedder("dlib_resnet", Path(os.environ["FACECAM_MODEL_DIR"]), threads=1)
    assert isinstance(e, ResnetEmbedder)
    return e


@pytest.fixture(scope="module")
def faces(embedder: ResnetEmbedder) -> list[tuple[np.ndarray, Landmarks, np.ndarray]]:
    """(rgb, YuNet's landmarks, sp5's points on YuNet's boxes) of each photo."""
    detector = YuNetDetector(DetectConfig(upsample=0), 0, YUNET)
    out = []
    for path in PHOTOS:
        rgb = load_image(path)
        det = detector.detect(rgb)
        assert len(det) >= 1 and det.landmarks is not None, path
        out.append((rgb, det.landmarks, embedder.landmarks(rgb, det)))
    assert sum(len(lm) for _, lm, _ in out) >= 7
    return out


def _distances(embedder: ResnetEmbedder, faces, order: list[int] | None = None,
               template: np.ndarray | None = None) -> np.ndarray:
    """|descriptor(sp5 chip) - descriptor(chip from YuNet's points)| for every face, Euclidean."""
    out = []
    for rgb, lm, parts in faces:
        points = lm if order is None else Landmarks(lm.points[:, order], lm.scheme)
        a = embedder.embed_chips(face_chips(rgb, parts))
        b = embedder.embed_chips(face_chips_from_landmarks(rgb, points, template=template))
        out.append(np.linalg.norm(a - b, axis=1))
    return np.concatenate(out)


def test_chips_from_yunets_points_give_the_descriptor_of_the_sp5_chip(embedder, faces) -> None:
    d = _distances(embedder, faces)
    # here 0.11-0.34 (median 0.17); on LFW View 1 DevTest median 0.17, 95th percentile 0.30
    # (scripts/bench_yunet_chips.py)
    assert np.median(d) < 0.25 and d.max() < 0.4, d.round(3)


@pytest.mark.parametrize("order", WRONG_ORDERS.values(), ids=WRONG_ORDERS.keys())
def test_a_wrong_point_order_moves_the_descriptor_beyond_the_same_person(embedder, faces, order: list[int]) -> None:
    d = _distances(embedder, faces, order)  # here 0.55-0.76; the eyes swapped: all beyond the threshold 0.6
    assert d.min() > FAR, d.round(3)
    if order[:2] == [1, 0]:
        assert d.min() > THRESHOLD, d.round(3)


def test_yunets_points_on_dlibs_template_give_another_persons_descriptor(embedder, faces) -> None:
    """Regression guard: YuNet's points read as dlib's (issue 11's bug, here in the chip): 0.65-0.88 here."""
    d = _distances(embedder, faces, template=TEMPLATE_5)
    assert d.min() > THRESHOLD, d.round(3)


def test_the_template_is_where_yunets_points_sit_in_the_sp5_chip(faces) -> None:
    coords = np.concatenate([template_coordinates(parts, lm.points) for _, lm, parts in faces])
    # 0.04 of the unit square is 4 px of the 150 px chip (padding 0.25: 1.5 units across)
    assert np.abs(np.median(coords, axis=0) - TEMPLATE_EYES_NOSE_MOUTH).max() < 0.04
    own = np.concatenate([template_coordinates(parts, parts) for _, _, parts in faces])
    assert np.abs(np.median(own, axis=0) - TEMPLATE_5).max() < 0.02  # sp5's own points land on dlib's template


def test_dlib_points_through_face_chips_from_landmarks_are_dlibs_chips(faces) -> None:
    for rgb, _, parts in faces:
        lm = Landmarks(parts.astype(np.float32), LandmarkScheme.DLIB_5)
        assert np.array_equal(face_chips_from_landmarks(rgb, lm), face_chips(rgb, parts))


@pytest.mark.parametrize(("call", "error"), [
    (lambda: face_chip_details(np.zeros((5, 2)), template=np.zeros((4, 2))), "template: expected \\(5, 2\\)"),
    (lambda: face_chip_details(np.zeros((4, 2))), "parts: expected \\(5, 2\\)"),
    (lambda: template_coordinates(np.zeros((2, 5, 2)), np.zeros((1, 5, 2))), "points: expected \\(2, k, 2\\)"),
    (lambda: face_chips_from_landmarks(np.zeros((9, 9, 3), np.uint8), np.zeros((1, 5, 2))), "expected Landmarks"),
])
def test_bad_shapes_are_refused_saying_what_was_expected(call, error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        call()
