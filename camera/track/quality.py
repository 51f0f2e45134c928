"""How much one face observation is worth, as pure functions.

A track's decision weighs each observation by a quality in [0, 1] made of
four parts, each a ramp from 0 (useless) to 1 (as good as it gets):

- size: the shorter side of the face box in full-resolution pixels; dlib's
  ResNet reads a 150x150 chip, so a face of ``size_full_px`` or more is full
  value and one of ``size_zero_px`` or less is worth nothing.
- sharpness: the variance of the Laplacian of the face, in grey levels²,
  measured on the face resized to 64x64 px so that it does not depend on the
  face's size (motion blur and defocus lower it).
- detector score: the detector's own confidence, in its own units (dlib's
  HOG: the SVM margin, about -0.5 to 3; higher is more sure).
- frontal-ness: from the detector's landmarks, read by name whatever their
  scheme (:class:`~camera.types.Landmarks`: the two eye centres and the
  nose): how far the nose sits from the middle of the eyes, along the eye
  line, as a fraction of the eye distance (0 for a frontal face, about 0.35
  at a 45° turn). Without landmarks this part is 1 (unknown, not penalised).

The quality is the geometric mean of the four parts, so one poor part pulls
it down without zeroing a face that is good otherwise, unless that part is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from camera.types import Detections

#: the side, in pixels, a face crop is resized to before measuring sharpness.
SHARPNESS_SIDE_PX = 64


@dataclass(frozen=True)
class QualitySettings:
    """The ramps that turn measurements into parts of the quality (see the module docstring)."""

    size_zero_px: float = 30.0
    size_full_px: float = 90.0
    sharpness_zero: float = 20.0
    sharpness_full: float = 150.0
    score_zero: float = -0.5
    score_full: float = 1.0
    yaw_full: float = 0.05
    yaw_zero: float = 0.45

    def __post_init__(self) -> None:
        for lo, hi, what in ((self.size_zero_px, self.size_full_px, "size"),
                             (self.sharpness_zero, self.sharpness_full, "sharpness"),
                             (self.score_zero, self.score_full, "score"), (self.yaw_full, self.yaw_zero, "yaw")):
            if not lo < hi:
                raise ValueError(f"QualitySettings {what}: expected the lower end below the upper, got {lo}, {hi}")


@dataclass(frozen=True)
class Quality:
    """One observation's quality (``value`` in [0, 1]) and the measurements behind it."""

    value: float
    size_px: float
    sharpness: float
    detector_score: float
    yaw_ratio: float | None


def ramp(x: float, zero: float, full: float) -> float:
    """0 at or below ``zero``, 1 at or above ``full``, linear between (``zero < full``)."""
    return float(np.clip((x - zero) / (full - zero), 0.0, 1.0))


def sharpness(grey: np.ndarray, box_xyxy: np.ndarray) -> float:
    """Variance of the Laplacian (grey levels²) of the face in ``grey`` (H, W) uint8, at 64x64 px."""
    h, w = grey.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in box_xyxy)
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return 0.0
    face = cv2.resize(grey[y1:y2, x1:x2], (SHARPNESS_SIDE_PX, SHARPNESS_SIDE_PX), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(face, cv2.CV_32F).var())


def yaw_ratio(eyes: np.ndarray, nose: np.ndarray) -> float:
    """How far the nose is from the eyes' midpoint, along the eye line, over the eye distance.

    ``eyes`` (2, 2) the two eye centres and ``nose`` (2,) in pixels (from
    :meth:`~camera.types.Landmarks.eye_centres` and ``.nose``). 0 for a
    frontal face; grows as the head turns left or right (sign dropped).
    """
    eye_a, eye_b = np.asarray(eyes, np.float64).reshape(2, 2)
    axis = eye_a - eye_b
    dist = float(np.hypot(*axis))
    if dist < 1e-6:
        return 1.0
    mid = (eye_a + eye_b) / 2
    return abs(float(np.dot(np.asarray(nose, np.float64) - mid, axis / dist))) / dist


def face_quality(size_px: float, sharp: float, detector_score: float, yaw: float | None,
                 settings: QualitySettings = QualitySettings()) -> Quality:
    """The quality of one face from its measurements (geometric mean of the four parts)."""
    s = settings
    parts = [ramp(size_px, s.size_zero_px, s.size_full_px), ramp(sharp, s.sharpness_zero, s.sharpness_full),
             ramp(detector_score, s.score_zero, s.score_full),
             1.0 if yaw is None else 1.0 - ramp(yaw, s.yaw_full, s.yaw_zero)]
    value = float(np.prod(parts) ** (1.0 / len(parts)))
    return Quality(value, float(size_px), float(sharp), float(detector_score), yaw)


def frame_qualities(grey: np.ndarray, detections: Detections,
                    settings: QualitySettings = QualitySettings()) -> list[Quality]:
    """:func:`face_quality` for every detection of one frame (``grey`` (H, W) uint8, the frame's faces)."""
    lm = detections.landmarks
    eyes, noses = (None, None) if lm is None else (lm.eye_centres(), lm.nose())
    out = []
    for i, box in enumerate(detections.xyxy):
        x1, y1, x2, y2 = (float(v) for v in box)
        yaw = None if eyes is None or noses is None else yaw_ratio(eyes[i], noses[i])
        out.append(face_quality(min(x2 - x1, y2 - y1), sharpness(grey, box), float(detections.scores[i]), yaw,
                                settings))
    return out
