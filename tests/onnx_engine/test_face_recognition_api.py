"""camera.face_recognition as a drop-in for face_recognition: same answers, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import camera.face_recognition as dropin
from camera.errors import ModelLoadError
from camera.types import Detections
from tests.conftest import AGEITGEY
from tests.onnx_engine.conftest import labels

KNN = AGEITGEY / "knn_examples"


@pytest.fixture(scope="module", autouse=True)
def _use_test_cache(model_cache: Path):
    dropin.set_model_cache(model_cache)
    yield
    dropin.set_model_cache(None)


def _css(rect: np.ndarray) -> tuple[int, int, int, int]:
    left, top, right, bottom = (int(v) for v in rect)
    return top, right, bottom, left


def test_compare_faces_same_answers_as_face_recognition(face_photos, dlib_shapes, dlib_descriptors) -> None:
    """knn_examples/test faces against knn_examples/train, boxes from dlib's HOG for both libraries."""
    import face_recognition

    index = {(p.path, tuple(r)): i for i, (p, r, _) in enumerate(dlib_shapes)}
    names = labels(AGEITGEY)
    knn = [p for p in face_photos if p.path.is_relative_to(KNN)]
    known, known_names, ours_known = [], [], []
    for photo in knn:
        rel = photo.path.relative_to(AGEITGEY).as_posix()
        if rel.startswith("knn_examples/train/"):
            (rect,) = photo.rects  # one face per training photo
            known.append(dlib_descriptors[index[(photo.path, tuple(rect))]])
            known_names.append(names[rel])
            ours_known += dropin.face_encodings(photo.rgb, [_css(rect)])
    answers = 0
    for photo in knn:
        rel = photo.path.relative_to(AGEITGEY).as_posix()
        if not rel.startswith("knn_examples/test/"):
            continue
        ours = dropin.face_encodings(photo.rgb, [_css(r) for r in photo.rects])
        for rect, enc in zip(photo.rects, ours, strict=True):
            ref = dlib_descriptors[index[(photo.path, tuple(rect))]]
            want = face_recognition.compare_faces(known, ref)
            got = dropin.compare_faces(ours_known, enc)
            assert got == want, rel
            assert np.abs(dropin.face_distance(ours_known, enc) - face_recognition.face_distance(known, ref)).max() < 1e-4
            answers += 1
            best = known_names[int(np.argmin(dropin.face_distance(ours_known, enc)))]
            assert best in names[rel].split("|") or not any(got), rel
    assert answers >= 6


def test_face_recognition_encodings_are_the_reference(face_photos, dlib_shapes, dlib_descriptors) -> None:
    """The shared dlib reference equals what face_recognition.face_encodings itself returns."""
    import face_recognition

    photo, rect, _ = next(x for x in dlib_shapes if x[0].path.name == "two_people.jpg")
    i = next(i for i, x in enumerate(dlib_shapes) if x[0] is photo and tuple(x[1]) == tuple(rect))
    (ref,) = face_recognition.face_encodings(photo.rgb, [_css(rect)])
    assert np.array_equal(ref, dlib_descriptors[i])


def test_face_locations_and_landmarks_match_face_recognition(face_photos) -> None:
    import face_recognition

    rgb = dropin.load_image_file(AGEITGEY / "identities" / "obama" / "obama_small.jpg")
    assert dropin.face_locations(rgb, 0) == face_recognition.face_locations(rgb, 0, model="cnn")
    assert dropin.face_locations(rgb, 0, model="cnn") == dropin.batch_face_locations([rgb], 0)[0]
    photo = next(p for p in face_photos if p.path.name == "two_people.jpg")
    css = [_css(r) for r in photo.rects]
    assert dropin.face_landmarks(photo.rgb, css) == face_recognition.face_landmarks(photo.rgb, css, model="small")


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_load_image_file_matches_face_recognition(mode: str) -> None:
    import face_recognition

    path = KNN / "test" / "obama1.jpg"
    ours = dropin.load_image_file(path, mode)
    assert np.array_equal(ours, face_recognition.load_image_file(path, mode))
    with path.open("rb") as f:
        assert np.array_equal(dropin.load_image_file(f, mode), ours)


def test_batch_face_locations_handles_mixed_sizes() -> None:
    a = dropin.load_image_file(AGEITGEY / "identities" / "obama" / "obama_small.jpg")
    b = a[:200, :300].copy()
    got = dropin.batch_face_locations([a, b, a], number_of_times_to_upsample=0, batch_size=2)
    assert got[0] == got[2] == dropin.face_locations(a, 0)
    assert got[1] == dropin.face_locations(b, 0)


def test_grey_images_are_treated_as_rgb() -> None:
    grey = dropin.load_image_file(AGEITGEY / "identities" / "obama" / "obama_small.jpg", mode="L")
    assert dropin.face_locations(grey, 0) == dropin.face_locations(np.dstack([grey] * 3), 0)


@pytest.mark.parametrize("call, error, match", [
    (lambda img: dropin.face_locations(img, model="hog"), ModelLoadError, "needs dlib"),
    (lambda img: dropin.face_locations(img, 4), ValueError, "0..3"),
    (lambda img: dropin.face_landmarks(img, model="large"), ValueError, "68-point"),
    (lambda img: dropin.face_encodings(img, model="large"), ValueError, "68-point"),
    (lambda img: dropin.face_encodings(img, num_jitters=2), ValueError, "num_jitters"),
    (lambda img: dropin.load_image_file(KNN / "test" / "obama1.jpg", mode="RGBA"), ValueError, "mode"),
    (lambda img: dropin.batch_face_locations([img], batch_size=0), ValueError, "batch_size"),
    (lambda img: dropin.face_locations(img.astype(np.float32)), ValueError, "uint8"),
])
def test_unsupported_calls_raise_clearly(call, error: type[Exception], match: str) -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(error, match=match):
        call(img)


@pytest.mark.parametrize("xyxy, shape, css", [
    ([[10, 20, 50, 60]], (100, 100), [(20, 50, 60, 10)]),
    ([[-5, -7, 120, 130]], (100, 110), [(0, 110, 100, 0)]),
])
def test_boxes_are_trimmed_like_face_recognition(xyxy, shape, css) -> None:
    det = Detections(np.array(xyxy, np.float32), np.ones(len(xyxy), np.float32))
    assert dropin._to_css(det, shape) == css


def test_face_distance_of_nothing_is_empty() -> None:
    assert dropin.face_distance([], np.zeros(128)).shape == (0,)
    assert dropin.compare_faces([], np.zeros(128)) == []
