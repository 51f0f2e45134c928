"""The speed rewrites keep their promises: graphs stay in onnxruntime's NCHWc layout,
the closed-form similarity transform equals dlib's SVD route, the separable pyramid
resize stays within float32 rounding of dlib's four-weight sum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from camera.dlibport.mmod import resize_bilinear, resize_float_into
from camera.dlibport.transform import similarity_transform


def _svd_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """dlib's find_similarity_transform through the SVD (the reference), its matrix part."""
    k = len(src)
    ds, dd = src - src.mean(axis=0), dst - dst.mean(axis=0)
    sigma = (ds ** 2).sum() / k
    cov = dd.T @ ds / k
    u, d, vt = np.linalg.svd(cov)
    s = np.ones(2)
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[1 if d[1] < d[0] else 0] = -1
    r = u @ np.diag(s) @ vt
    return (d * s).sum() / sigma * r if sigma else r


@pytest.mark.parametrize("case", ["rotation", "mirrored", "random"])
def test_similarity_transform_closed_form_equals_the_svd_route(case: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        src = rng.normal(size=(5, 2)) * 40
        if case == "rotation":
            a = rng.uniform(-np.pi, np.pi)
            dst = src @ (1.3 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])).T + 7
        elif case == "mirrored":  # dlib returns a proper rotation even for mirrored points
            dst = src[:, ::-1] * 0.7 - 3
        else:
            dst = rng.normal(size=(5, 2)) * 30
        m, t = similarity_transform(src, dst)
        assert np.allclose(m, _svd_similarity(src, dst), rtol=1e-12, atol=1e-12)
        assert np.allclose(t, dst.mean(axis=0) - m @ src.mean(axis=0))


def test_similarity_transform_onto_collinear_points_is_a_scaled_rotation() -> None:
    """With a rank-1 covariance the SVD route's answer hangs on the sign of a rounded
    determinant (it may even return a reflection); the closed form returns the rotation."""
    rng = np.random.default_rng(3)
    m, _ = similarity_transform(rng.normal(size=(5, 2)), np.outer(rng.normal(size=5), [2.0, 1.0]))
    assert m[0, 0] == m[1, 1] and m[0, 1] == -m[1, 0]


def test_similarity_transform_of_a_single_point_set_is_the_identity() -> None:
    m, t = similarity_transform(np.zeros((5, 2)), np.ones((5, 2)))
    assert np.array_equal(m, np.eye(2)) and np.allclose(t, 1)


@pytest.mark.parametrize("shape", [(3, 360, 640), (3, 101, 87), (3, 9, 13), (1, 240, 321)])
def test_separable_pyramid_resize_is_within_float32_rounding_of_dlibs_sum(shape: tuple[int, int, int]) -> None:
    src = np.random.default_rng(sum(shape)).uniform(-0.5, 0.5, shape).astype(np.float32)
    out_h, out_w = shape[1] * 5 // 6, shape[2] * 5 // 6
    dst = np.empty((shape[0], out_h, out_w), np.float32)
    resize_float_into(src, dst)
    assert np.abs(dst - resize_bilinear(src, out_h, out_w, integral=False)).max() <= 1e-6


def _conv_weights(model: onnx.ModelProto) -> list[np.ndarray]:
    inits = {i.name: i for i in model.graph.initializer}
    return [numpy_helper.to_array(inits[n.input[1]]) for n in model.graph.node if n.op_type == "Conv"]


def test_mmod_graph_has_nchwc_friendly_channel_counts(model_cache: Path) -> None:
    """Regression: 45-channel layers and the one-channel 9x9 scorer ran outside NCHWc (~1.5x slower)."""
    weights = _conv_weights(onnx.load(str(model_cache / "dlib_mmod.onnx")))
    assert weights[0].shape[1] == 3
    assert all(w.shape[1] % 16 == 0 for w in weights[1:]), [w.shape for w in weights]
    assert all(w.shape[0] % 16 == 0 for w in weights[:-1])
    assert weights[-1].shape == (1, 16, 9, 1) and weights[-2].shape[2:] == (1, 9)


def test_resnet_graph_pads_only_where_spatial_sizes_differ(model_cache: Path) -> None:
    """Regression: channel-only Pads on the downsampling skips kept 8 blocks out of NCHWc."""
    model = onnx.load(str(model_cache / "dlib_resnet_v1.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Pad") == 2 and ops.count("AveragePool") == 1
    assert "Sub" not in ops and "Mul" not in ops, "input normalisation is folded into the first conv"
