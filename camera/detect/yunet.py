"""YuNet (OpenCV Zoo) through ``cv2.FaceDetectorYN``: a fast detector with five landmarks.

The built-in ``yunet`` is the ``yunet_2026may`` manifest entry, a fetched,
sha256-pinned file in the model directory (``scripts/fetch_models.py
yunet_2026may``); a user's own YuNet-format model is a detector entry of
``models.toml`` with ``runtime = "cv2.FaceDetectorYN"`` (:mod:`camera.detect.user`).
YuNet's scores are 0..1. Its five points are converted once, in
:meth:`~camera.types.Detections.from_yunet`, to a
:class:`~camera.types.Landmarks` of scheme ``EYES_NOSE_MOUTH``; the ResNet
embedder still places dlib's 5 points itself, so descriptors stay dlib's.
``upsample`` enlarges the (downscaled) frame by 2**upsample before detection.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from camera.detect.base import check_rgb, downscale_for_detection, drop_small
from camera.detect.config import DetectConfig
from camera.errors import ModelLoadError
from camera.types import Detections
from models import entry
from models.fetch import verified_fetched_path

log = logging.getLogger(__name__)

#: the manifest entry behind the built-in ``yunet`` detector
YUNET_ENTRY = "yunet_2026may"


class YuNetDetector:
    """``cv2.FaceDetectorYN`` on RGB frames; boxes and landmarks in full-resolution pixels."""

    def __init__(self, cfg: DetectConfig, upsample: int, model_path: Path, min_score: float = 0.9,
                 nms_iou: float = 0.3, top_k: int = 5000) -> None:
        self.cfg = cfg
        self.upsample = upsample
        self.model_path = Path(model_path)
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.top_k = top_k
        self._net: Any = None

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in ``rgb`` (H, W, 3) uint8, highest score first."""
        check_rgb(rgb)
        small, scale = downscale_for_detection(rgb, self.cfg.detect_max_width)
        if self.upsample:
            f = 2 ** self.upsample
            small = cv2.resize(small, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
            scale /= f
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        _, faces = self._detector((bgr.shape[1], bgr.shape[0])).detect(bgr)
        det = Detections.from_yunet(faces, scale).clipped(rgb.shape[1], rgb.shape[0])
        return drop_small(det, self.cfg.min_face_px)

    def _detector(self, size: tuple[int, int]) -> Any:
        if self._net is None:
            try:
                self._net = cv2.FaceDetectorYN.create(str(self.model_path), "", size, self.min_score,
                                                      self.nms_iou, self.top_k)
            except cv2.error as exc:
                raise ModelLoadError(f"OpenCV cannot load YuNet from {self.model_path}: {exc}") from exc
        self._net.setInputSize(size)
        return self._net


def create(cfg: DetectConfig, upsample: int, model_dir: Path, threads: int | None = None) -> YuNetDetector:
    """The registry factory of ``yunet``: the fetched, sha256-checked ``yunet_2026may`` in ``model_dir``
    (``threads`` is unused: OpenCV's DNN module sizes its own pool)."""
    e = entry(YUNET_ENTRY)
    return YuNetDetector(cfg, upsample, verified_fetched_path(YUNET_ENTRY, model_dir),
                         min_score=float(e["default_min_score"]), nms_iou=float(e["nms_iou"]),
                         top_k=int(e["top_k"]))
