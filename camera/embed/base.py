"""The embedder protocol: faces in a frame -> descriptors, with the model that made them.

Landmarks and alignment happen inside an embedder, so each may cut faces its
own way. ``model_id`` names the model and its preprocessing: descriptors with
different ids are never compared. ``default_max_distance`` is the model's
own Euclidean threshold (at or below it: the same person; 0.6 for dlib's ResNet).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from camera.types import Detections, Embeddings


@runtime_checkable
class FaceEmbedder(Protocol):
    """Turns faces into descriptors."""

    model_id: str
    default_max_distance: float

    def embed(self, rgb: np.ndarray, detections: Detections) -> Embeddings:
        """One descriptor per detection, computed on the full-resolution RGB uint8 ``rgb``."""
        ...


@runtime_checkable
class ChipEmbedder(FaceEmbedder, Protocol):
    """An embedder whose two halves can be called apart (test-time views, benchmarks)."""

    def chips(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """The (n, h, w, 3) uint8 RGB face chips the network sees."""
        ...

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors (n, d) float64 for chips from :meth:`chips`."""
        ...
