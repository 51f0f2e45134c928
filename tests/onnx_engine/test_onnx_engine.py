"""The onnx engine against dlib: descriptors, MMOD detections, settings and errors.

dlib's CNN takes ~2.5 s per 500x375 photo on this 2-core machine, so the
MMOD reference runs at upsample 0 on the photos as they are, except
bald_guys.jpg (1986 px wide), which both detectors see downscaled to 800 px;
two photos are also checked at upsample 1 after downscaling to 240 px.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camera.detect import DETECTORS
from camera.detect.config import DetectConfig
from camera.embed import EMBEDDERS
from camera.embed.dlib import DlibEmbedder
from camera.engine import ENGINES, create_engine
from camera.errors import ModelLoadError
from camera.imageio import load_image
from camera.types import Detections
from tests.onnx_engine.conftest import FACES_DETECTION, parts_of


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two inclusive integer boxes (left, top, right, bottom)."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _resized(rgb: np.ndarray, width: int) -> np.ndarray:
    if rgb.shape[1] <= width:
        return rgb
    h = round(rgb.shape[0] * width / rgb.shape[1])
    return np.ascontiguousarray(cv2.resize(rgb, (width, h), interpolation=cv2.INTER_AREA))


def test_descriptors_within_1e4_of_dlib(face_photos, dlib_shapes, dlib_descriptors, onnx_engine) -> None:
    ours = []
    for p in face_photos:
        det = Detections(p.rects.astype(np.float32), np.ones(len(p.rects), np.float32))
        ours.append(onnx_engine.embedder.embed(p.rgb, det).vectors)
    ours = np.concatenate(ours)
    ref = dlib_descriptors
    dist = np.linalg.norm(ours - ref, axis=1)
    assert ours.dtype == np.float64 and ours.shape == (len(dlib_shapes), 128)
    assert dist.max() <= 1e-4, f"worst face {dlib_shapes[int(dist.argmax())][0].path.name}: {dist.max():.2e}"


def test_embedder_shares_the_dlib_model_id_and_threshold(onnx_engine) -> None:
    assert onnx_engine.embedder.model_id == DlibEmbedder().model_id == "dlib_resnet_v1/sp5-chip150-pad0.25"
    assert onnx_engine.embedder.default_max_distance == 0.6


def test_embedder_landmarks_and_chips_match_dlib(face_photos, dlib_shapes, onnx_engine) -> None:
    photo, rect, shape = next(x for x in dlib_shapes if x[0].path.name == "two_people.jpg")
    det = Detections(rect[None].astype(np.float32), np.ones(1, np.float32))
    assert np.array_equal(onnx_engine.embedder.landmarks(photo.rgb, det)[0], parts_of(shape))
    assert onnx_engine.embedder.chips(photo.rgb, det).shape == (1, 150, 150, 3)
    empty = onnx_engine.embedder.embed(photo.rgb, Detections.empty())
    assert empty.vectors.shape == (0, 128)


MMOD_CASES = [(p.name, 800, 0) for p in sorted(FACES_DETECTION.glob("*.jpg"))]
MMOD_CASES += [("2008_001322.jpg", 240, 1), ("2009_004587.jpg", 240, 1)]


@pytest.fixture(scope="module")
def mmod_results(model_cache, dlib_models):
    """(case, ours Detections, dlib boxes (n, 4) int, dlib scores) per MMOD case."""
    out = []
    for name, width, up in MMOD_CASES:
        rgb = _resized(load_image(FACES_DETECTION / name), width)
        settings = DetectConfig(detector="mmod", upsample=up, detect_max_width=None, min_face_px=0)
        ours = create_engine("onnx", settings, model_cache).detector.detect(rgb)
        found = dlib_models["cnn"](rgb, up)
        boxes = np.array([(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in found])
        scores = np.array([d.confidence for d in found])
        order = np.argsort(-scores, kind="stable")
        out.append(((name, width, up), ours, boxes.reshape(-1, 4)[order], scores[order]))
    return out


def test_mmod_same_boxes_and_scores_as_dlib(mmod_results) -> None:
    total = 0
    for case, ours, boxes, scores in mmod_results:
        assert len(ours) == len(boxes), f"{case}: {len(ours)} faces, dlib {len(boxes)}"
        for a, b in zip(ours.xyxy.astype(np.int64), boxes, strict=True):
            assert _iou(a, b) >= 0.99, f"{case}: {a} vs dlib {b}"
        assert np.abs(ours.scores - scores).max(initial=0) <= 1e-3, case
        total += len(boxes)
    assert total >= 25, "the photos hold at least 25 faces MMOD finds"


def test_mmod_downscaled_detection_maps_boxes_back(model_cache) -> None:
    rgb = load_image(FACES_DETECTION / "bald_guys.jpg")
    full = create_engine("onnx", DetectConfig(detector="cnn", upsample=0, detect_max_width=800, min_face_px=0),
                         model_cache).detector.detect(rgb)
    small = _resized(rgb, 800)
    direct = create_engine("onnx", DetectConfig(detector="mmod", upsample=0, detect_max_width=None, min_face_px=0),
                           model_cache).detector.detect(small)
    assert len(full) == len(direct) > 0
    assert np.allclose(full.xyxy, direct.xyxy * np.float32(rgb.shape[1] / 800), atol=1e-3)
    assert full.xyxy[:, 2].max() > 800  # in full-resolution pixels
    assert np.all(np.diff(full.scores) <= 0), "highest score first"


def test_detect_batch_equals_one_by_one(model_cache) -> None:
    detector = create_engine("onnx", DetectConfig(detector="mmod", upsample=0), model_cache).detector
    imgs = [load_image(FACES_DETECTION / n) for n in ("2008_001322.jpg", "2008_002506.jpg", "2009_004587.jpg")]
    one = [detector.detect(i) for i in imgs]
    batch = detector.detect_batch(imgs)
    for a, b in zip(one, batch, strict=True):
        assert np.array_equal(a.xyxy, b.xyxy) and np.allclose(a.scores, b.scores, atol=1e-5)


def test_min_face_px_drops_small_faces(model_cache) -> None:
    rgb = _resized(load_image(FACES_DETECTION / "bald_guys.jpg"), 800)
    s = DetectConfig(detector="mmod", upsample=0, detect_max_width=None, min_face_px=0)
    every = create_engine("onnx", s, model_cache).detector.detect(rgb)
    cut = float(np.median(every.sizes)) + 1
    s2 = DetectConfig(detector="mmod", upsample=0, detect_max_width=None, min_face_px=int(cut))
    fewer = create_engine("onnx", s2, model_cache).detector.detect(rgb)
    assert 0 < len(fewer) < len(every) and fewer.sizes.min() >= int(cut)


def test_registries_name_the_onnx_engine_and_its_stages() -> None:
    assert ENGINES["onnx"].detectors == ("yunet", "mmod") and ENGINES["onnx"].embedder == "dlib_resnet"
    assert DETECTORS["mmod"].factory == "camera.detect.mmod:create" and EMBEDDERS["dlib_resnet"]


@pytest.mark.parametrize("model, error", [
    ("yunet", "fetch it with `python scripts/fetch_models.py yunet_2026may"),  # not fetched into this cache
    ("hogg", r"not built in \(mmod, yunet, hog, dlib_cnn\) and not a user detector"),
])
def test_a_missing_or_unknown_detector_is_a_clear_error(model_cache, model: str, error: str) -> None:
    with pytest.raises(ModelLoadError, match=error):
        create_engine("onnx", DetectConfig(detector=model), model_cache)


def test_non_rgb_input_is_refused(onnx_engine) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        onnx_engine.detector.detect(np.zeros((50, 50), np.uint8))
