"""dlib's own detectors through face_recognition: ``hog`` (HOG + linear SVM) and ``dlib_cnn`` (its MMOD CNN).

Both need ``facecam[dlib]``. Boxes come back in full-resolution pixels with
dlib's 5-point landmarks (:attr:`~camera.types.LandmarkScheme.DLIB_5`),
which the quality score reads to tell a frontal face from a turned one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camera import dlib_api
from camera.detect.base import check_rgb, downscale_for_detection, drop_small
from camera.detect.config import DetectConfig
from camera.types import Detections


class DlibDetector:
    """dlib's HOG (``model="hog"``) or MMOD CNN (``model="dlib_cnn"``) detector, as face_recognition loads them."""

    def __init__(self, cfg: DetectConfig, upsample: int, model: str) -> None:
        self.cfg, self.upsample, self.model = cfg, upsample, model

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in ``rgb`` (H, W, 3) uint8, highest score first, with dlib's 5 landmarks."""
        check_rgb(rgb)
        fr = dlib_api.api()
        small, scale = downscale_for_detection(rgb, self.cfg.detect_max_width)
        if self.model == "hog":
            rects, scores, _ = fr.face_detector.run(small, self.upsample, 0.0)
            boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
        else:
            found = fr.cnn_face_detector(small, self.upsample)
            boxes = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in found]
            scores = [d.confidence for d in found]
        det = drop_small(Detections.from_ltrb(boxes, list(scores), scale, rgb.shape[1], rgb.shape[0]),
                         self.cfg.min_face_px)
        if len(det) == 0:
            return det
        return det.with_landmarks(dlib_api.landmarks_5(np.ascontiguousarray(rgb), det))


def create_hog(cfg: DetectConfig, upsample: int, model_dir: Path, threads: int | None = None) -> DlibDetector:
    """The registry factory of ``hog`` (``model_dir`` and ``threads`` are unused: dlib reads its own files
    and runs its own threads)."""
    dlib_api.api()
    return DlibDetector(cfg, upsample, "hog")


def create_cnn(cfg: DetectConfig, upsample: int, model_dir: Path, threads: int | None = None) -> DlibDetector:
    """The registry factory of ``dlib_cnn`` (``threads`` is unused, as for ``hog``)."""
    dlib_api.api()
    return DlibDetector(cfg, upsample, "dlib_cnn")
