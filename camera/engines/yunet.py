"""YuNet (OpenCV Zoo) through ``cv2.FaceDetectorYN``: a fast extra detector for the onnx engine.

The model is a user-fetched ONNX file pinned in the manifest
(``yunet_2023mar``; ``scripts/fetch_models.py`` downloads it). YuNet returns
boxes, a score in 0..1 and five landmarks (image-left eye, image-right eye,
nose tip, mouth corners) that are kept in ``Detections.landmarks``; the
embedder still places dlib's 5 points itself, so descriptors stay dlib's.
``upsample`` enlarges the (downscaled) frame by 2**upsample before detection.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from camera.engines.base import DetectorSettings, downscale_for_detection, drop_small
from camera.errors import ModelLoadError
from camera.types import Detections

log = logging.getLogger(__name__)


class YuNetDetector:
    """``cv2.FaceDetectorYN`` on RGB frames; boxes in full-resolution pixels."""

    def __init__(self, settings: DetectorSettings, model_path: Path, min_score: float = 0.9,
                 nms_iou: float = 0.3, top_k: int = 5000) -> None:
        self.settings = settings
        self.model_path = Path(model_path)
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.top_k = top_k
        self._net = None

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in ``rgb`` (H, W, 3) uint8, highest score first."""
        import cv2

        small, scale = downscale_for_detection(rgb, self.settings.max_width_px)
        if self.settings.upsample:
            f = 2 ** self.settings.upsample
            small = cv2.resize(small, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
            scale /= f
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        net = self._detector((bgr.shape[1], bgr.shape[0]))
        _, faces = net.detect(bgr)
        det = detections_from_yunet(faces, scale)
        h, w = rgb.shape[:2]
        det.xyxy[:, [0, 2]] = np.clip(det.xyxy[:, [0, 2]], 0, w)
        det.xyxy[:, [1, 3]] = np.clip(det.xyxy[:, [1, 3]], 0, h)
        return drop_small(det, self.settings.min_face_px)

    def _detector(self, size: tuple[int, int]):
        import cv2

        if self._net is None:
            try:
                self._net = cv2.FaceDetectorYN.create(str(self.model_path), "", size, self.min_score,
                                                      self.nms_iou, self.top_k)
            except cv2.error as exc:
                raise ModelLoadError(f"OpenCV cannot load YuNet from {self.model_path}: {exc}") from exc
        self._net.setInputSize(size)
        return self._net


def detections_from_yunet(faces: np.ndarray | None, scale: float = 1.0) -> Detections:
    """YuNet's (n, 15) rows [x, y, w, h, 5 x (px, py), score] as :class:`Detections`, times ``scale``."""
    if faces is None or len(faces) == 0:
        return Detections.empty()
    f = np.asarray(faces, np.float32)
    if f.ndim != 2 or f.shape[1] != 15:
        raise ValueError(f"YuNet output: expected (n, 15), got {f.shape}")
    xyxy = np.stack([f[:, 0], f[:, 1], f[:, 0] + f[:, 2], f[:, 1] + f[:, 3]], axis=1) * np.float32(scale)
    landmarks = f[:, 4:14].reshape(-1, 5, 2) * np.float32(scale)
    scores = f[:, 14]
    order = np.argsort(-scores, kind="stable")
    return Detections(xyxy[order], scores[order], landmarks[order])
