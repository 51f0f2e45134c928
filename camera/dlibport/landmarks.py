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

Speed: where ``camera.dlibport._fast`` is built (:mod:`camera.dlibport.native`) the cascade
runs in C, ~0.05 ms a face. The numpy path makes each cascade level a fixed
number of numpy calls whatever the number of trees or faces: all of a
level's splits are tested at once (a depth-4 tree has 15), the 15 outcome
bits of a tree are packed into one integer and a lookup table gives the leaf
the path ends in; ~1.5 ms a face.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from camera.dlibport.native import native
from camera.dlibport.transform import round_half_up
from models.convert import load_shape_predictor_npz
from models.dlib_format import ShapePredictorModel

log = logging.getLogger(__name__)


class ShapePredictor:
    """Evaluates a :class:`~models.dlib_format.ShapePredictorModel` on many faces at once."""

    def __init__(self, model: ShapePredictorModel, use_native: bool | None = None) -> None:
        """``use_native``: run the C loops (``None``: where built, see :mod:`camera.dlibport.native`)."""
        self.model = model
        self._native = native() if use_native is None or use_native else None
        if use_native and self._native is None:
            raise RuntimeError("camera.dlibport._fast is not built (or FACECAM_NATIVE=0)")
        c, t, s = model.split_idx.shape[:3]
        depth = int(np.log2(s + 1))
        if 2 ** depth != s + 1:
            raise ValueError(f"trees must be full: {s} splits is not 2**d - 1")
        if s > 15:
            raise ValueError(f"trees deeper than 4 are not supported (got {s} splits)")
        features = model.deltas.shape[1]
        if model.split_idx.size and not (model.split_idx.min() >= 0 and model.split_idx.max() < features):
            raise ValueError(f"split feature indices must lie in 0..{features - 1}")
        if model.anchor_idx.size and not (model.anchor_idx.min() >= 0 and model.anchor_idx.max() < model.num_parts):
            raise ValueError(f"anchor indices must lie in 0..{model.num_parts - 1}")
        # Umeyama's similarity transform from the initial shape, reduced to two dot products:
        # [a, b] = flat shape @ _ab and the transform's matrix is [[a, -b], [b, a]]
        init = model.initial_shape.reshape(-1, 2).astype(np.float64)
        k = len(init)
        centred = init - init.sum(axis=0) / k
        sigma = (centred ** 2).sum() / k
        self._ab = np.stack([centred.ravel(), np.column_stack([-centred[:, 1], centred[:, 0]]).ravel()],
                            axis=1) / (k * sigma)  # (2p, 2)
        if self._native is not None:
            # the model as contiguous arrays for camera.dlibport._fast.cascade
            self._c_model = (np.ascontiguousarray(model.initial_shape, np.float32), np.ascontiguousarray(self._ab),
                             np.ascontiguousarray(model.deltas, np.float32),
                             np.ascontiguousarray(model.anchor_idx, np.int32),
                             np.ascontiguousarray(model.split_idx, np.int32),
                             np.ascontiguousarray(model.split_thresh, np.float32),
                             np.ascontiguousarray(model.leaves, np.float32))
            self._c_dims = (c, t, s, features, 2 * model.num_parts)
            return
        # numpy: a level's split tests as flat arrays, each tree padded to 16 tests (the padding
        # compares feature 0 with itself: never true) so the outcomes pack into uint16 words
        pad = ((0, 0), (0, 0), (0, 16 - s))
        self._f1 = np.pad(model.split_idx[..., 0], pad).reshape(c, t * 16).astype(np.intp)
        self._f2 = np.pad(model.split_idx[..., 1], pad).reshape(c, t * 16).astype(np.intp)
        # grey differences are integers, so ``d > thresh`` is ``d > floor(thresh)`` exactly
        thresh = np.clip(np.floor(model.split_thresh.astype(np.float64)), -1024, 1024)
        self._thresh = np.pad(thresh, pad).reshape(c, t * 16).astype(np.int16)
        # leaf updates (C, T * (S + 1), 2p): a leaf is one 40-byte row, so a level touches
        # only its trees' reached leaves (the model's 4.8 MB rarely stays in cache)
        self._leaves = model.leaves.reshape(c, t * (s + 1), -1)
        self._tree_base = (np.arange(t) * (s + 1)).astype(np.intp)
        self._leaf_of_code = _leaf_lookup(depth)
        self._trees = t
        # feature pixels: (2, F) offsets for a and for b, and the flat-shape columns of their anchors
        dx, dy = model.deltas[..., 0], model.deltas[..., 1]
        self._da = np.stack([dx, dy], axis=1)  # (C, 2, F) float32
        self._db = np.stack([-dy, dx], axis=1)
        self._anchor = np.stack([2 * model.anchor_idx, 2 * model.anchor_idx + 1], axis=1).astype(np.intp)

    @classmethod
    def from_npz(cls, path: Path, use_native: bool | None = None) -> ShapePredictor:
        """Load what :func:`models.convert.ensure_converted` wrote for ``dlib_sp5``."""
        return cls(load_shape_predictor_npz(path), use_native)

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
        h, w = rgb.shape[:2]
        origin = rects[:, :2, None].astype(np.float64)  # (n, 2, 1)
        scale = (rects[:, 2:, None] - rects[:, :2, None]).astype(np.float64)
        if self._native is not None:
            shape = np.empty((n, 2 * p), np.float32)
            self._native.cascade(np.ascontiguousarray(rgb, np.uint8), h, w, np.ascontiguousarray(rects), n,
                                 *self._c_model, *self._c_dims, shape)
        else:
            shape = self._cascade(np.ascontiguousarray(rgb).reshape(-1, 3), h, w, origin, scale)
        pts = shape.reshape(n, p, 2).astype(np.float64)
        return round_half_up(pts * scale.transpose(0, 2, 1) + origin.transpose(0, 2, 1))

    def _cascade(self, pixels: np.ndarray, h: int, w: int, origin: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The numpy cascade: final unit-box shapes (n, 2p) float32."""
        n, p = len(origin), self.num_parts
        half = origin + 0.5  # (unit * scale + origin) + 0.5 is exact in float64: any order gives it
        limit = np.array([[w], [h]], np.uintp)  # negative pixels wrap to huge unsigned ones
        shape = np.repeat(self.model.initial_shape[None], n, axis=0)  # (n, 2p) float32
        # a level's updates, tree by tree: row 0 the shape, then one row of leaves per tree
        stacked = np.empty((self._trees + 1, n, 2 * p), np.float32)
        for k in range(len(self._f1)):
            # feature pixels: float32 like dlib (m(r,0)*dx + m(r,1)*dy, then + anchor), then image
            # pixels in float64 rounded with floor(v + 0.5); grey (R + G + B) // 3, 0 outside
            ab = (shape @ self._ab).astype(np.float32)  # (n, 2)
            anchor = np.take(shape, self._anchor[k], axis=1)  # (n, 2, F)
            unit = ab[:, :1, None] * self._da[k] + ab[:, 1:, None] * self._db[k] + anchor
            px = unit * scale  # (n, 2, F) float64
            px += half
            xy = np.floor(px, out=px).astype(np.intp)
            inside = (xy.view(np.uintp) < limit).all(axis=1)
            flat = xy[:, 1] * w
            flat += xy[:, 0]
            flat *= inside
            rgb3 = np.take(pixels, flat, axis=0)  # (n, F, 3)
            grey = (rgb3[..., 0].astype(np.int16) + rgb3[..., 1] + rgb3[..., 2]) // 3
            grey *= inside
            # every split test of every tree, packed into one word per tree -> leaf
            diff = np.take(grey, self._f1[k], axis=1) - np.take(grey, self._f2[k], axis=1)
            go_left = diff > self._thresh[k]  # (n, T * 16)
            codes = np.packbits(go_left, axis=-1, bitorder="little").view("<u2")  # (n, T)
            leaf = self._tree_base + np.take(self._leaf_of_code, codes)
            # dlib adds the trees' updates one after another in float32
            # (reducing over the outer axis adds the rows one after another, not pairwise)
            stacked[0] = shape
            np.take(self._leaves[k], leaf.T, axis=0, out=stacked[1:])
            shape = np.add.reduce(stacked, axis=0)
        return shape


def _leaf_lookup(depth: int) -> np.ndarray:
    """Leaf index (0 .. 2**depth - 1) for every packed word of split outcomes.

    Bit ``i`` of the word is split ``i``'s test (True: go to child ``2i + 1``,
    else ``2i + 2``), splits in dlib's breadth-first order.
    """
    codes = np.arange(2 ** 16, dtype=np.int64)
    node = np.zeros_like(codes)
    for _ in range(depth):
        node = 2 * node + np.where((codes >> node) & 1, 1, 2)
    return (node - (2 ** depth - 1)).astype(np.uint8)  # 64 kB: stays in cache
