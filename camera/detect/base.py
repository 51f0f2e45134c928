"""The detector protocol and what every detector shares: the resized copy it looks at, the size filter.

A detector takes a full-resolution RGB uint8 (H, W, 3) frame and returns
:class:`~camera.types.Detections` in that frame's pixels, highest score
first, landmarks (if it finds any) with their scheme. Constructors are cheap:
models load on first use or from paths passed in.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from camera.types import Detections


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in an RGB uint8 (H, W, 3) image."""

    def detect(self, rgb: np.ndarray) -> Detections:
        """Boxes in ``rgb``'s own pixel coordinates, highest score first."""
        ...


def check_rgb(rgb: np.ndarray) -> None:
    """Raise ValueError unless ``rgb`` is an RGB uint8 (H, W, 3) array."""
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        got = getattr(rgb, "shape", type(rgb).__name__), getattr(rgb, "dtype", "")
        raise ValueError(f"image: expected RGB uint8 (H, W, 3), got {got}")


def downscale_for_detection(rgb: np.ndarray, max_width_px: int | None) -> tuple[np.ndarray, float]:
    """A copy of ``rgb`` no wider than ``max_width_px`` and the factor back.

    Returns ``(small, scale)`` where full-resolution coordinates are
    ``small`` coordinates times ``scale`` (``scale >= 1``).
    """
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
