"""Test-time views (camera.evaluation.views): deterministic, the same for both engines, and averaged as documented."""

from __future__ import annotations

import numpy as np
import pytest

from camera.detect.config import DetectConfig
from camera.engine import create_engine
from camera.evaluation.views import augment_chips, check_views, embed_views, view_transforms
from camera.imageio import load_image
from tests.conftest import AGEITGEY

PHOTO = AGEITGEY / "knn_examples" / "test" / "obama_and_biden.jpg"


@pytest.mark.parametrize("bad", [0, 3, 7, 66, -2])
def test_views_must_be_one_or_even(bad) -> None:
    with pytest.raises(ValueError, match="views"):
        check_views(bad)


def test_views_are_the_chip_its_mirror_and_fixed_perturbations() -> None:
    chips = np.random.default_rng(1).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    assert augment_chips(chips, 1) is chips
    two = augment_chips(chips, 2)
    assert two.shape == (4, 150, 150, 3)
    assert (two[0] == chips[0]).all() and (two[1] == chips[0][:, ::-1]).all() and (two[2] == chips[1]).all()
    eight = augment_chips(chips, 8)
    assert eight.shape == (16, 150, 150, 3)
    assert (eight[0] == chips[0]).all() and (eight[8] == chips[1]).all()
    for k in range(0, 8, 2):
        assert (eight[k + 1] == eight[k][:, ::-1]).all()
    assert not (eight[2] == chips[0]).all()  # a perturbed view really differs
    assert (augment_chips(chips, 8) == eight).all()  # deterministic
    ms = view_transforms(8)
    assert len(ms) == 4 and np.allclose(ms[0], [[1, 0, 0], [0, 1, 0]])
    for m in ms[1:]:  # in dlib's jitter ranges: zoom out <= 3 %, rotation <= 3 degrees, shift <= 2 % + rotation
        scale = float(np.hypot(m[0, 0], m[1, 0]))
        assert 0.97 <= scale <= 1.0
        assert abs(np.degrees(np.arctan2(m[1, 0], m[0, 0]))) <= 3.0


@pytest.fixture(scope="module")
def engines():
    return (create_engine("dlib", DetectConfig(upsample=1)),
            create_engine("onnx", DetectConfig(detector="mmod", upsample=1)))


def test_both_engines_average_the_same_views(engines) -> None:
    dlib_engine, onnx_engine = engines
    rgb = load_image(PHOTO)
    det = dlib_engine.detector.detect(rgb)
    det = det.select(np.arange(2))  # two of its faces: a batch
    one = embed_views(dlib_engine.embedder, rgb, det, 1).vectors
    for views in (2, 4):
        a = embed_views(dlib_engine.embedder, rgb, det, views).vectors
        b = embed_views(onnx_engine.embedder, rgb, det, views).vectors
        assert a.shape == (2, 128)
        assert np.abs(a - b).max() < 1e-4  # identical chips, the same network
        assert np.linalg.norm(a - one, axis=1).min() > 0.02  # the views change the vector ...
        assert np.linalg.norm(a - one, axis=1).max() < 0.3  # ... but it stays the same face
    chips = onnx_engine.embedder.chips(rgb, det)
    mirrored = onnx_engine.embedder.embed_chips(np.concatenate([chips, chips[:, :, ::-1]]))
    want = (mirrored[:2] + mirrored[2:]) / 2
    assert np.allclose(embed_views(onnx_engine.embedder, rgb, det, 2).vectors, want, atol=1e-6)
