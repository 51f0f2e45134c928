"""dlib's 5-point shape predictor (a cascade of regression trees) in numpy.

Given an RGB image and face rectangles, returns the same integer landmarks
as ``dlib.shape_predictor`` with ``shape_predictor_5_face_landmarks.dat``:
parts 0, 1 are the outer and inner corner of the eye on the image-right
side, 2, 3 the outer and inner corner of the image-left eye, 4 the base of
the nose; (x, y) in pixels.

Rectangles are dlib rectangles: (left, top, right, bottom) integer pixels
with right/bottom *inclusive*; the unit box maps onto them with scale
``right - left``. The arithmetic follows dlib where it decides the result:
the similarity transform in float64 cast to float32, feature pixels in
float32 rounded with ``floor(v + 0.5)``, grey ``(R + G + B) // 3`` (0 outside
the image), and leaf updates summed one tree at a time in float32.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from camera.geometry import round_half_up, similarity_transform
from models.dlib_format import ShapePredictorModel

log = logging.getLogger(__name__)


class ShapePredictor:
    """Evaluates a :class:`~models.dlib_format.ShapePredictorModel` on many faces at once."""

    def __init__(self, model: ShapePredictorModel) -> None:
        self.model = model
        c, t, s, _ = model.split_idx.shape
        self._depth = int(np.log2(s + 1))
        if 2 ** self._depth != s + 1:
            raise ValueError(f"trees must be full: {s} splits is not 2**d - 1")
        self._tree = np.arange(t)
        self._initial_pts = model.initial_shape.reshape(-1, 2)

    @classmethod
    def from_npz(cls, path: Path) -> ShapePredictor:
        """Load what :func:`models.convert.ensure_converted` wrote for ``dlib_sp5``."""
        from models.convert import load_shape_predictor_npz

        return cls(load_shape_predictor_npz(path))

    @property
    def num_parts(self) -> int:
        return self.model.num_parts

    def predict(self, rgb: np.ndarray, rects: np.ndarray) -> np.ndarray:
        """Landmarks for each rectangle.

        ``rgb`` (H, W, 3) uint8 (any channel order: only R+G+B is used);
        ``rects`` (n, 4) integer (left, top, right, bottom), inclusive.
        Returns (n, parts, 2) int64 (x, y) pixels.
        """
        rects = np.asarray(rects, np.int64).reshape(-1, 4)
        n = len(rects)
        p = self.num_parts
        if n == 0:
            return np.zeros((0, p, 2), np.int64)
        m = self.model
        origin = rects[:, None, :2].astype(np.float64)  # (n, 1, 2)
        scale = (rects[:, None, 2:] - rects[:, None, :2]).astype(np.float64)
        shape = np.repeat(m.initial_shape[None], n, axis=0)  # (n, 2p) float32
        rows = np.arange(n)[:, None]
        for k in range(m.split_idx.shape[0]):
            feats = self._features(rgb, shape, origin, scale, k)  # (n, F) float32
            leaf = self._leaves(feats, k, rows)  # (n, T)
            updates = m.leaves[k][self._tree[None, :], leaf]  # (n, T, 2p)
            stacked = np.concatenate([shape[:, None, :], updates], axis=1)
            shape = np.add.accumulate(stacked, axis=1, dtype=np.float32)[:, -1]
        pts = shape.reshape(n, p, 2).astype(np.float64)
        return round_half_up(pts * scale + origin)

    def _features(self, rgb: np.ndarray, shape: np.ndarray, origin: np.ndarray, scale: np.ndarray,
                  k: int) -> np.ndarray:
        """Grey levels at cascade ``k``'s feature pixels, placed relative to ``shape``."""
        m = self.model
        n = len(shape)
        pts = shape.reshape(n, -1, 2)
        tform, _ = similarity_transform(np.broadcast_to(self._initial_pts, pts.shape), pts)
        tform = tform.astype(np.float32)  # (n, 2, 2)
        d = m.deltas[k]  # (F, 2) float32
        anchor = pts[:, m.anchor_idx[k]]  # (n, F, 2) float32
        # float32 like dlib: m(r,0)*dx + m(r,1)*dy, then + anchor
        x = tform[:, None, 0, 0] * d[None, :, 0] + tform[:, None, 0, 1] * d[None, :, 1] + anchor[..., 0]
        y = tform[:, None, 1, 0] * d[None, :, 0] + tform[:, None, 1, 1] * d[None, :, 1] + anchor[..., 1]
        unit = np.stack([x, y], axis=-1).astype(np.float32)
        px = round_half_up(unit.astype(np.float64) * scale + origin)  # (n, F, 2)
        h, w = rgb.shape[:2]
        inside = (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
        xs = np.where(inside, px[..., 0], 0)
        ys = np.where(inside, px[..., 1], 0)
        grey = rgb[ys, xs].astype(np.int32).sum(axis=-1) // 3
        return np.where(inside, grey, 0).astype(np.float32)

    def _leaves(self, feats: np.ndarray, k: int, rows: np.ndarray) -> np.ndarray:
        """Leaf index reached in each of cascade ``k``'s trees, (n, T)."""
        idx = self.model.split_idx[k]  # (T, S, 2)
        thr = self.model.split_thresh[k]  # (T, S)
        node = np.zeros((len(feats), len(self._tree)), np.int64)
        for _ in range(self._depth):
            i1 = idx[self._tree[None, :], node, 0]
            i2 = idx[self._tree[None, :], node, 1]
            go_left = feats[rows, i1] - feats[rows, i2] > thr[self._tree[None, :], node]
            node = 2 * node + np.where(go_left, 1, 2)
        return node - (2 ** self._depth - 1)
