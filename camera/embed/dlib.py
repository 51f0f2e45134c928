"""dlib's ResNet face descriptor through face_recognition (registry name ``dlib``; needs ``facecam[dlib]``).

The same model as :mod:`camera.embed.resnet` (same ``model_id``), computed
by dlib itself: ``face_recognition.face_encodings`` on the full-resolution frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camera import dlib_api
from camera.types import Detections, Embeddings
from models import entry

MANIFEST_ENTRY = "dlib_resnet_v1"


class DlibEmbedder:
    """dlib's ResNet face descriptor (128-d, Euclidean threshold 0.6)."""

    def __init__(self, num_jitters: int = 1) -> None:
        e = entry(MANIFEST_ENTRY)
        self.model_id: str = e["model_id"]
        self.default_max_distance = float(e["default_max_distance"])
        self.num_jitters = num_jitters

    def embed(self, rgb: np.ndarray, detections: Detections) -> Embeddings:
        if len(detections) == 0:
            return Embeddings(np.zeros((0, 128)), self.model_id)
        fr = dlib_api.api()
        vecs = fr.face_encodings(np.ascontiguousarray(rgb), known_face_locations=detections.to_trbl(),
                                 num_jitters=self.num_jitters, model="small")
        return Embeddings(np.asarray(vecs, np.float64).reshape(len(detections), 128), self.model_id)

    def chips(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """The (n, 150, 150, 3) uint8 RGB chips dlib's ResNet sees (5-point landmarks, ``dlib.get_face_chip``)."""
        rgb = np.ascontiguousarray(rgb)
        out = np.zeros((len(detections), 150, 150, 3), np.uint8)
        for i, rect in enumerate(detections.to_dlib_rects()):
            out[i] = dlib_api.face_chip(rgb, *rect)
        return out

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors (n, 128) float64 for 150x150 RGB uint8 chips, by dlib's ResNet."""
        if len(chips) == 0:
            return np.zeros((0, 128))
        vecs = dlib_api.api().face_encoder.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.asarray(vecs, np.float64).reshape(len(chips), 128)


def create(model_dir: Path, threads: int | None = None) -> DlibEmbedder:
    """The registry factory (``model_dir`` and ``threads`` are unused: dlib reads its own .dat files and runs
    its own threads)."""
    dlib_api.api()
    return DlibEmbedder()
