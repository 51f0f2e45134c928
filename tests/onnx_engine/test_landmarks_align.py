"""5-point landmarks and face chips against dlib's own, on every face in the parity photos."""

from __future__ import annotations

import numpy as np
import pytest

from camera.align import face_chip, face_chip_details, pyramid_down2
from camera.landmarks import ShapePredictor
from tests.onnx_engine.conftest import parts_of


@pytest.fixture(scope="module")
def predictor(model_cache) -> ShapePredictor:
    return ShapePredictor.from_npz(model_cache / "dlib_sp5.npz")


def test_every_photo_has_its_labelled_faces(face_photos) -> None:
    counts = {p.path.name: len(p.rects) for p in face_photos}
    assert sum(counts.values()) >= 84
    assert counts["two_people.jpg"] == 2 and counts["kit_with_rose.jpg"] == 2
    assert all(n >= 1 for n in counts.values()), {k: n for k, n in counts.items() if n == 0}


def test_landmarks_identical_to_dlib(face_photos, dlib_shapes, predictor) -> None:
    ours = np.concatenate([predictor.predict(p.rgb, p.rects) for p in face_photos])
    ref = np.stack([parts_of(shape) for _, _, shape in dlib_shapes])
    assert ours.shape == ref.shape == (len(dlib_shapes), 5, 2)
    assert np.array_equal(ours, ref), f"{int((ours != ref).any(axis=(1, 2)).sum())} faces differ"


def test_landmarks_identical_for_boxes_leaving_the_image(face_photos, dlib_models, predictor) -> None:
    import dlib

    photo = next(p for p in face_photos if p.path.name == "two_people.jpg")
    h, w = photo.rgb.shape[:2]
    rects = np.array([[-60, -40, 150, 170], [w - 120, 30, w + 90, 240], [300, h - 100, 520, h + 120]])
    ours = predictor.predict(photo.rgb, rects)
    ref = np.stack([parts_of(dlib_models["sp5"](photo.rgb, dlib.rectangle(*map(int, r)))) for r in rects])
    assert np.array_equal(ours, ref)


def test_chips_within_one_grey_level_of_dlib(dlib_shapes) -> None:
    import dlib

    worst, big = 0, 0
    for photo, _, shape in dlib_shapes:
        parts = parts_of(shape)
        ours = face_chip(photo.rgb, parts)
        ref = dlib.get_face_chip(photo.rgb, shape, 150, 0.25)
        worst = max(worst, int(np.abs(ours.astype(int) - ref).max()))
        d = face_chip_details(parts)
        big += (d.rect[2] - d.rect[0] + 1) > 2 * 150  # takes dlib's pyramid_down<2> path
    assert worst <= 1
    assert big >= 5, "the large-face (pyramid) path must be exercised"


def test_chip_details_match_dlib(dlib_shapes) -> None:
    import dlib

    for _, _, shape in dlib_shapes[::7]:
        ref = dlib.get_face_chip_details(shape, 150, 0.25)
        ours = face_chip_details(parts_of(shape))
        r = ref.rect
        assert np.allclose(ours.rect, (r.left(), r.top(), r.right(), r.bottom()), atol=1e-9)
        assert ours.angle == pytest.approx(ref.angle, abs=1e-12)


@pytest.mark.parametrize("shape", [(101, 87, 3), (9, 9, 3), (8, 20, 3), (150, 151, 3), (640, 480, 3)])
def test_pyramid_down2_identical_to_dlib(shape: tuple[int, int, int]) -> None:
    import dlib

    img = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(pyramid_down2(img), dlib.pyramid_down(2)(img))
