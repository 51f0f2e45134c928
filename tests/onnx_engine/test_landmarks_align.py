"""5-point landmarks and face chips against dlib's own, on every face in the parity photos.

Each test runs twice: with the C loops of ``camera.dlibport._fast`` and with the numpy
code (``backend``). Where the C module is not built the ``c`` runs skip,
unless ``FACECAM_REQUIRE_NATIVE=1`` (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import camera.dlibport.align
from camera.dlibport.align import face_chip, face_chip_details, face_chips, pyramid_down2
from camera.dlibport.landmarks import ShapePredictor
from camera.dlibport.native import native
from tests.onnx_engine.conftest import parts_of


@pytest.fixture(params=["c", "numpy"])
def backend(request, monkeypatch) -> str:
    """``c``: camera.dlibport._fast for landmarks and chips; ``numpy``: the numpy code."""
    if request.param == "c" and native() is None:
        if os.environ.get("FACECAM_REQUIRE_NATIVE") == "1":
            pytest.fail("camera.dlibport._fast is not built (FACECAM_REQUIRE_NATIVE=1): is a C compiler installed?")
        pytest.skip("camera.dlibport._fast is not built here")
    if request.param == "numpy":
        monkeypatch.setattr(camera.dlibport.align, "native", lambda: None)
    return request.param


@pytest.fixture
def predictor(model_cache, backend) -> ShapePredictor:
    return ShapePredictor.from_npz(model_cache / "dlib_sp5.npz", use_native=backend == "c")


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


def test_chips_within_one_grey_level_of_dlib(dlib_shapes, backend) -> None:
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


def test_c_and_numpy_give_the_same_chips_for_any_transform(face_photos, monkeypatch) -> None:
    """Random landmarks, far off the image too (zeros), and a grey image: the two paths agree
    pixel for pixel."""
    if native() is None:
        pytest.skip("camera.dlibport._fast is not built here")
    rng = np.random.default_rng(3)
    photo = next(p for p in face_photos if p.path.name == "two_people.jpg")
    grey = np.ascontiguousarray(photo.rgb[..., 1])
    h, w = grey.shape
    centres = rng.uniform([-200, -200], [w + 200, h + 200], size=(40, 2))
    template = np.array([[60, 0], [45, 2], [-60, 0], [-45, 2], [0, 45]], np.float64)
    parts = []
    for c in centres:
        a, s = rng.uniform(-np.pi, np.pi), rng.uniform(0.2, 6.0)
        rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        parts.append(np.round(template @ rot.T + c))
    parts = np.array(parts)
    fast = {"rgb": face_chips(photo.rgb, parts), "grey": [face_chip(grey, p) for p in parts]}
    monkeypatch.setattr(camera.dlibport.align, "native", lambda: None)
    assert np.array_equal(fast["rgb"], face_chips(photo.rgb, parts))
    assert all(np.array_equal(f, face_chip(grey, p)) for f, p in zip(fast["grey"], parts, strict=True))
    assert fast["rgb"].any() and not fast["rgb"].all()  # some chips lie partly off the image


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


def test_c_loops_refuse_buffers_of_the_wrong_size() -> None:
    """A wrong size is a ValueError naming the array, never a read past the end."""
    fast = native()
    if fast is None:
        pytest.skip("camera.dlibport._fast is not built here")
    src = np.zeros((20, 30, 3), np.uint8)
    out = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="src"):
        fast.sample_bilinear(src, 21, 30, 3, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 10, 10, out)
    with pytest.raises(ValueError, match="out"):
        fast.sample_bilinear(src, 20, 30, 3, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 11, 10, out)
    with pytest.raises(ValueError, match="contiguous"):  # a strided view is refused, not misread
        fast.sample_bilinear(np.zeros((20, 60, 3), np.uint8)[:, ::2], 20, 30, 3, 1, 0, 0, 1, 0, 0, 10, 10, out)
    rects = np.array([[0, 0, 9, 9]], np.int64)
    with pytest.raises(ValueError, match="rects"):
        fast.cascade(src, 20, 30, rects, 2, *([np.zeros(1, np.float32)] * 7), 1, 1, 1, 1, 10,
                     np.zeros((1, 10), np.float32))


def test_c_and_numpy_build_the_same_detector_pyramid(face_photos, monkeypatch) -> None:
    """The MMOD canvas (every pyramid level, float32) is bit-identical on both paths."""
    import camera.dlibport.mmod
    from camera.dlibport.mmod import tiled_pyramid

    if native() is None:
        pytest.skip("camera.dlibport._fast is not built here")
    mean = (122.782, 117.001, 104.298)
    rng = np.random.default_rng(5)
    images = [p.rgb for p in face_photos[:4]] + [rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                                                for h, w in [(41, 300), (333, 47), (480, 640), (97, 101)]]
    fast = [tiled_pyramid(img, mean) for img in images]
    monkeypatch.setattr(camera.dlibport.mmod, "native", lambda: None)
    for img, (canvas, rects) in zip(images, fast, strict=True):
        ref, ref_rects = tiled_pyramid(img, mean)
        assert rects == ref_rects and np.array_equal(canvas, ref)
    assert sum(len(r) for _, r in fast) > 40  # many levels resized


def test_pyramid_level_refuses_regions_outside_or_overlapping() -> None:
    fast = native()
    if fast is None:
        pytest.skip("camera.dlibport._fast is not built here")
    canvas = np.zeros((3, 50, 40), np.float32)
    i1, f1 = np.zeros(1, np.int32), np.ones(1, np.float32)
    with pytest.raises(ValueError, match="outside"):
        fast.resize_level(canvas, 3, 50, 40, 0, 0, 10, 10, 35, 0, 1, 10, i1, i1, f1, f1, *([np.zeros(10, np.int32)] * 2),
                          *([np.ones(10, np.float32)] * 2))
    with pytest.raises(ValueError, match="overlap"):
        fast.resize_level(canvas, 3, 50, 40, 0, 0, 10, 10, 5, 5, 1, 1, i1, i1, f1, f1, i1, i1, f1, f1)
    with pytest.raises(ValueError, match="row out of range"):
        fast.resize_level(canvas, 3, 50, 40, 0, 0, 10, 10, 20, 20, 1, 1, np.array([10], np.int32), i1, f1, f1,
                          i1, i1, f1, f1)


@pytest.mark.parametrize("field", ["split_idx", "anchor_idx"])
def test_a_model_with_indices_out_of_range_is_refused(model_cache, backend, field: str) -> None:
    """A damaged model file must not send either path reading outside its arrays."""
    import dataclasses

    model = ShapePredictor.from_npz(model_cache / "dlib_sp5.npz", use_native=backend == "c").model
    bad = getattr(model, field).copy()
    bad.flat[7] = 10_000
    with pytest.raises(ValueError, match="indices must lie in"):
        ShapePredictor(dataclasses.replace(model, **{field: bad}), use_native=backend == "c")
