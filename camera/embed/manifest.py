"""Embedders the user brings: a ``kind = "embedder"`` entry of ``models.toml``, run by onnxruntime.

Everything about how the model runs comes from its entry (:class:`models.user.EmbedderSpec`),
never from guessing at tensor shapes: faces are cut as the entry says (dlib's
5-point chip at the model's input size, or the detection box with a margin,
resized), converted to the model's colour order, scale, layout and dtype,
and embedded in batches; outputs are float64, unit length if ``l2_normalise``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from camera.dlibport.align import face_chips
from camera.dlibport.landmarks import ShapePredictor
from camera.embed.resnet import shape_predictor_factory
from camera.errors import ModelLoadError
from camera.ort import make_session
from camera.types import Detections, Embeddings
from models.user import EmbedderSpec, user_entry


class ManifestEmbedder:
    """An embedder described by an :class:`EmbedderSpec`, run by onnxruntime.

    Faces are cut as the entry says (dlib's 5-point chip at the model's input
    size, or the detection box with a margin, resized), converted to the
    model's colour order, scale, layout and dtype, and embedded in batches;
    outputs are float64, unit length if ``l2_normalise``.
    """

    #: may run on several threads at once (camera.pipeline's inference threads): state is read-only
    thread_safe = True

    BATCH = 16

    def __init__(self, spec: EmbedderSpec, session: Any,
                 shape_predictor: ShapePredictor | Callable[[], ShapePredictor]) -> None:
        self.spec = spec
        self.model_id = spec.model_id
        self.default_max_distance = spec.default_max_distance
        self._session = session
        self._sp = shape_predictor  # a ShapePredictor or a zero-argument factory of one
        inputs = session.get_inputs()
        names = [i.name for i in inputs]
        self._input = spec.input_name or names[0]
        if self._input not in names or len(inputs) != 1:
            raise ModelLoadError(f"model {spec.name!r}: expected one input (named {self._input!r}); "
                                 f"the graph has {names}")
        outs = [o.name for o in session.get_outputs()]
        self._output = spec.output_name or outs[0]
        if self._output not in outs:
            raise ModelLoadError(f"model {spec.name!r}: no output {self._output!r}; the graph has {outs}")

    def _predictor(self) -> ShapePredictor:
        sp = self._sp  # read once: another thread may build it meanwhile
        if not isinstance(sp, ShapePredictor):
            sp = self._sp = sp()
        return sp

    def chips(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """(n, height, width, 3) uint8 RGB faces, cut as the entry's ``alignment`` says."""
        s = self.spec
        if len(detections) == 0:
            return np.zeros((0, s.height, s.width, 3), np.uint8)
        if s.alignment == "dlib_chip":
            parts = self._predictor().predict(rgb, detections.to_dlib_rects())
            return face_chips(rgb, parts, size=s.width, padding=s.chip_padding)
        out = np.zeros((len(detections), s.height, s.width, 3), np.uint8)
        h, w = rgb.shape[:2]
        for i, (x0, y0, x1, y1) in enumerate(detections.xyxy.astype(np.float64)):
            mx, my = (x1 - x0) * s.box_margin, (y1 - y0) * s.box_margin
            left, top, right, bottom = (int(round(v)) for v in (x0 - mx, y0 - my, x1 + mx, y1 + my))
            if right - left < 2 or bottom - top < 2:
                continue  # a degenerate box stays black
            # the grown box, black where it leaves the frame, then resized (area averaging when shrinking)
            crop = np.zeros((bottom - top, right - left, 3), np.uint8)
            sl, st, sr, sb = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
            if sl < sr and st < sb:
                crop[st - top:sb - top, sl - left:sr - left] = rgb[st:sb, sl:sr]
            shrink = crop.shape[1] > s.width or crop.shape[0] > s.height
            out[i] = cv2.resize(crop, (s.width, s.height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return out

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        """The network input for (n, height, width, 3) uint8 RGB chips."""
        s = self.spec
        x = chips[..., ::-1] if s.colour_order == "bgr" else chips
        if s.dtype == "uint8":
            x = np.ascontiguousarray(x, np.uint8)
        else:
            x = (x.astype(np.float32) - np.float32(s.mean)) / np.float32(s.std)
        if s.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors (n, d) float64 for chips from :meth:`chips`."""
        out = [np.asarray(self._session.run([self._output], {self._input: self.prepare(chips[i:i + self.BATCH])})[0])
               for i in range(0, len(chips), self.BATCH)]
        if not out:
            return np.zeros((0, 0))
        v = np.concatenate(out).reshape(len(chips), -1).astype(np.float64)
        if self.spec.l2_normalise:
            v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return v

    def embed(self, rgb: np.ndarray, detections: Detections) -> Embeddings:
        """One descriptor per detection, computed on the full-resolution ``rgb``."""
        chips = self.chips(rgb, detections)
        v = self.embed_chips(chips) if len(chips) else np.zeros((0, 0))
        return Embeddings(v, self.model_id)


def create(name: str, model_dir: Path, threads: int | None = None) -> ManifestEmbedder:
    """The embedder of entry ``name`` in ``model_dir``'s models.toml (its file sha256-checked), with ``threads``
    per onnxruntime session (``None``: one per core)."""
    spec = EmbedderSpec.from_entry(name, user_entry(name, model_dir, "embedder"))
    return ManifestEmbedder(spec, make_session(spec.verified_path(), threads), shape_predictor_factory(model_dir))
