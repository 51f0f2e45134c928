"""Motion gating: a cheap test of whether anything in the picture changed.

Each frame is turned grey, downscaled to ``width_px`` wide and blurred
(Gaussian, ``blur_px`` sigma in downscaled pixels); it is compared with a
running-average background. A pixel has changed when it differs from the
background by more than ``threshold`` grey levels (0-255); the frame has
motion when the changed pixels outside the masked zones are at least
``min_area`` of the unmasked picture (a fraction, 0-1). Masked zones are
rectangles ``(x1, y1, x2, y2)`` in fractions of the frame's width and height
(0-1), e.g. a road or a tree that moves all day.

On a 640x360 frame the whole test costs well under a millisecond: it decides
whether the detector (tens to hundreds of milliseconds) runs at all, see
:func:`should_detect`.
"""

from __future__ import annotations

import cv2
import numpy as np

from camera.motion.config import MotionConfig, Zone

#: how far the background moves towards each frame (0-1): 0.3 forgets a change in a few frames
BACKGROUND_ALPHA = 0.3


def prepare(rgb: np.ndarray, width_px: int, blur_px: float) -> np.ndarray:
    """The grey, downscaled, blurred float32 picture the gate compares, (h, ``width_px``)."""
    h, w = rgb.shape[:2]
    small_h = max(1, round(h * width_px / w))
    grey = cv2.cvtColor(cv2.resize(rgb, (width_px, small_h), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    grey = grey.astype(np.float32)
    return cv2.GaussianBlur(grey, (0, 0), blur_px) if blur_px > 0 else grey


def zone_mask(shape: tuple[int, int], masks: tuple[Zone, ...]) -> np.ndarray:
    """Boolean (h, w): True where motion counts (outside every masked zone)."""
    h, w = shape
    keep = np.ones((h, w), bool)
    for x1, y1, x2, y2 in masks:
        keep[int(y1 * h):int(np.ceil(y2 * h)), int(x1 * w):int(np.ceil(x2 * w))] = False
    return keep


def changed_fraction(background: np.ndarray, current: np.ndarray, keep: np.ndarray, threshold: float) -> float:
    """The fraction (0-1) of counted pixels that differ by more than ``threshold`` grey levels."""
    n = int(keep.sum())
    if n == 0:
        return 0.0
    moved = (np.abs(current - background) > threshold) & keep
    return float(moved.sum()) / n


def should_detect(moving: bool, tracking: bool, since_detect_s: float | None, motion_interval_s: float,
                  tracked_interval_s: float) -> bool:
    """Whether the detector runs on this frame.

    It runs when there is motion and ``motion_interval_s`` seconds (camera
    clock) have passed since it last ran, and, while a face is tracked, at
    least every ``tracked_interval_s`` seconds even without motion, so a
    person standing still keeps their track. ``since_detect_s`` is ``None``
    before the first detection.
    """
    if since_detect_s is None:
        return moving or tracking
    slack = 1e-6  # float clocks (0.1 * k) must not skip a beat
    if moving and since_detect_s >= motion_interval_s - slack:
        return True
    return tracking and since_detect_s >= tracked_interval_s - slack


class MotionGate:
    """The stateful gate for one camera: feed every frame to :meth:`update`."""

    def __init__(self, settings: MotionConfig) -> None:
        self.settings = settings
        self._background: np.ndarray | None = None
        self._keep: np.ndarray | None = None
        #: the last frame's changed fraction (0-1), for logs and tests.
        self.last_fraction = 0.0

    def update(self, rgb: np.ndarray) -> bool:
        """Whether ``rgb`` shows motion against the background; the background then moves towards it.

        The first frame, a change of frame size, and a disabled gate all count as motion.
        """
        s = self.settings
        if not s.enabled:
            return True
        cur = prepare(rgb, s.width_px, s.blur_px)
        if self._background is None or self._background.shape != cur.shape:
            self._background = cur
            self._keep = zone_mask(cur.shape, s.masks)
            self.last_fraction = 1.0
            return True
        keep = self._keep if self._keep is not None else zone_mask(cur.shape, s.masks)
        self.last_fraction = changed_fraction(self._background, cur, keep, s.threshold)
        cv2.accumulateWeighted(cur, self._background, BACKGROUND_ALPHA)
        return self.last_fraction >= s.min_area
