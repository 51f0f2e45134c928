"""dlib's face ResNet descriptor (128-d, Euclidean threshold 0.6) on onnxruntime, without dlib.

5-point landmarks (:mod:`camera.dlibport.landmarks`), the 150x150 chip
(:mod:`camera.dlibport.align`) and the ResNet, batched over faces. Its
``model_id`` is the dlib engine's: the descriptors agree with dlib's within
1e-4 (Euclidean), so galleries enrolled with either stay valid. The models
are converted once into the model directory by :mod:`models.convert`.

:func:`create_int8` is the same embedder on the int8 graph of
:mod:`models.quantize` (``[engine] precision = "int8"``), under its own
``model_id``: its vectors differ from fp32's by ~0.04, so galleries are
re-embedded rather than mixed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from camera.dlibport.align import face_chips
from camera.dlibport.landmarks import ShapePredictor
from camera.errors import ModelLoadError
from camera.ort import LazySession, SessionFactory, make_session
from camera.types import Detections, Embeddings
from models import entry
from models.convert import ensure_converted
from models.quantize import INT8_ENTRY, ensure_int8

RESNET_ENTRY = "dlib_resnet_v1"
SP5_ENTRY = "dlib_sp5"

#: Faces per ResNet run (dlib's compute_face_descriptor uses 16 too).
EMBED_BATCH = 16


class ResnetEmbedder:
    """dlib's face ResNet on onnxruntime, with dlib's 5-point predictor and chip in numpy (or C)."""

    #: may run on several threads at once (camera.pipeline's inference threads): state is read-only
    thread_safe = True

    def __init__(self, session_factory: SessionFactory,
                 shape_predictor: ShapePredictor | Callable[[], ShapePredictor],
                 model_id: str, default_max_distance: float) -> None:
        self.model_id = model_id
        self.default_max_distance = default_max_distance
        self._session = LazySession(session_factory)
        self._sp = shape_predictor

    @property
    def shape_predictor(self) -> ShapePredictor:
        sp = self._sp  # read once: another thread may build it meanwhile
        if not isinstance(sp, ShapePredictor):
            sp = self._sp = sp()
        return sp

    def landmarks(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """dlib's 5-point landmarks (n, 5, 2) int64 pixels for each box, as dlib's predictor gives them."""
        return self.shape_predictor.predict(rgb, detections.to_dlib_rects())

    def chips(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """The (n, 150, 150, 3) uint8 RGB chips the ResNet sees."""
        return face_chips(rgb, self.landmarks(rgb, detections))

    def embed(self, rgb: np.ndarray, detections: Detections) -> Embeddings:
        """One descriptor per detection, (n, 128) float64, computed on the full-resolution ``rgb``."""
        if len(detections) == 0:
            return Embeddings(np.zeros((0, 128)), self.model_id)
        return Embeddings(self.embed_chips(self.chips(rgb, detections)), self.model_id)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors (n, 128) float64 for RGB uint8 chips (n, 150, 150, 3)."""
        chips = np.ascontiguousarray(chips, np.uint8)
        if chips.ndim != 4 or chips.shape[1:] != (150, 150, 3):
            raise ValueError(f"chips: expected (n, 150, 150, 3) uint8, got {chips.shape}")
        session = self._session.get()
        out = [session.run(["descriptors"], {"chips": chips[i:i + EMBED_BATCH]})[0]
               for i in range(0, len(chips), EMBED_BATCH)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, 128))


def shape_predictor_factory(model_dir: Path) -> Callable[[], ShapePredictor]:
    """A factory of dlib's 5-point predictor, converted into ``model_dir`` now and loaded on first use."""
    try:
        sp5 = ensure_converted(SP5_ENTRY, model_dir)
    except OSError as exc:
        raise ModelLoadError(f"cannot write converted models to {model_dir}: {exc}") from exc
    return lambda: ShapePredictor.from_npz(sp5.path)


def create(model_dir: Path, threads: int | None = None) -> ResnetEmbedder:
    """The registry factory of ``dlib_resnet``: converts the models into ``model_dir`` if needed; ``threads``
    per session (``None``: one per core)."""
    try:
        resnet = ensure_converted(RESNET_ENTRY, model_dir)
    except OSError as exc:
        raise ModelLoadError(f"cannot write converted models to {model_dir}: {exc}") from exc
    e = entry(RESNET_ENTRY)
    return ResnetEmbedder(lambda: make_session(resnet.path, threads), shape_predictor_factory(model_dir), e["model_id"],
                          float(e["default_max_distance"]))


def create_int8(model_dir: Path, threads: int | None = None) -> ResnetEmbedder:
    """``dlib_resnet`` at ``[engine] precision = "int8"``: the int8 graph, made in ``model_dir`` from the fp32
    one on first use (needs the ``onnx`` package then), under the int8 entry's own ``model_id``."""
    try:
        resnet = ensure_int8(model_dir)
    except OSError as exc:
        raise ModelLoadError(f"cannot write the int8 model to {model_dir}: {exc}") from exc
    e = entry(INT8_ENTRY)
    return ResnetEmbedder(lambda: make_session(resnet.path, threads), shape_predictor_factory(model_dir), e["model_id"],
                          float(e["default_max_distance"]))
