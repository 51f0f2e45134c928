"""The detection and embedding protocols every engine implements.

An engine is a :class:`FaceDetector` (full-resolution RGB frame → boxes in
full-resolution pixels) and a :class:`FaceEmbedder` (frame + boxes →
descriptors; landmarks and alignment happen inside, so an engine may do them
its own way). Constructors are cheap; models load on first use or from paths
passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from camera.types import Detections, Embeddings

#: "hog", "cnn", "mmod", "yunet", or the name of a detector entry in the user's models.toml
DetectorModel = str


@dataclass(frozen=True)
class DetectorSettings:
    """How to look for faces.

    ``model``: ``hog`` (dlib's HOG + linear SVM, fast on a CPU) or ``cnn``
    (dlib's MMOD CNN; more recall on turned faces, much slower under dlib).
    ``upsample``: times the (possibly downscaled) image is doubled before
    detection, to find faces smaller than ~80 px (each time costs ~4x).
    ``max_width_px``: detection runs on a copy no wider than this (``None``:
    full resolution); boxes are mapped back to full resolution.
    ``min_face_px``: faces whose shorter box side is below this, in
    full-resolution pixels, are dropped.
    """

    model: DetectorModel = "hog"
    upsample: int = 1
    max_width_px: int | None = 640
    min_face_px: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.upsample <= 3:
            raise ValueError(f"upsample: expected 0..3, got {self.upsample}")
        if self.max_width_px is not None and self.max_width_px < 32:
            raise ValueError(f"max_width_px: expected >= 32 or None, got {self.max_width_px}")
        if self.min_face_px < 0:
            raise ValueError(f"min_face_px: expected >= 0, got {self.min_face_px}")


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in an RGB uint8 (H, W, 3) image."""

    def detect(self, rgb: np.ndarray) -> Detections:
        """Boxes in ``rgb``'s own pixel coordinates, highest score first."""
        ...


@runtime_checkable
class FaceEmbedder(Protocol):
    """Turns faces into descriptors.

    ``model_id`` names the model and its preprocessing; descriptors with
    different ids are never compared. ``default_max_distance`` is the model's
    own Euclidean threshold (0.6 for dlib's ResNet).
    """

    model_id: str
    default_max_distance: float

    def embed(self, rgb: np.ndarray, detections: Detections) -> Embeddings:
        """One descriptor per detection, computed on the full-resolution ``rgb``."""
        ...


@dataclass(frozen=True)
class Engine:
    """A detector and an embedder that belong together, under one name."""

    name: str
    detector: FaceDetector
    embedder: FaceEmbedder


def downscale_for_detection(rgb: np.ndarray, max_width_px: int | None) -> tuple[np.ndarray, float]:
    """A copy of ``rgb`` no wider than ``max_width_px`` and the factor back.

    Returns ``(small, scale)`` where full-resolution coordinates are
    ``small`` coordinates times ``scale`` (``scale >= 1``).
    """
    import cv2

    w = rgb.shape[1]
    if max_width_px is None or w <= max_width_px:
        return rgb, 1.0
    scale = w / max_width_px
    h = max(1, round(rgb.shape[0] / scale))
    small = cv2.resize(rgb, (max_width_px, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), scale


def drop_small(detections: Detections, min_face_px: int) -> Detections:
    """Detections whose shorter box side is at least ``min_face_px``."""
    if len(detections) == 0 or min_face_px <= 0:
        return detections
    return detections.select(detections.sizes >= min_face_px)
