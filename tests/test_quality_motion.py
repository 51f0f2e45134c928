"""Face quality (camera/track/quality.py) and motion gating (camera/motion/gate.py): pure functions on real pictures."""

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from camera.config import parse_config
from camera.errors import ConfigError
from camera.imageio import load_image
from camera.motion.config import MotionConfig
from camera.motion.gate import MotionGate, changed_fraction, should_detect, zone_mask
from camera.track.quality import QualitySettings, face_quality, ramp, sharpness, yaw_ratio
from camera.types import Landmarks, LandmarkScheme
from tests.conftest import AGEITGEY

LIN = AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"


@pytest.mark.parametrize(("x", "expected"), [(0, 0.0), (30, 0.0), (60, 0.5), (90, 1.0), (500, 1.0)])
def test_ramp(x, expected):
    assert ramp(x, 30, 90) == pytest.approx(expected)


DLIB = LandmarkScheme.DLIB_5
YUNET = LandmarkScheme.EYES_NOSE_MOUTH


@pytest.mark.parametrize(
    ("scheme", "points", "expected"),
    [
        # dlib's order: image-right eye's corners, image-left eye's corners, nose base
        (DLIB, [[60, 40], [50, 40], [20, 40], [30, 40], [40, 60]], 0.0),  # nose under the eyes' midpoint: frontal
        (DLIB, [[60, 40], [50, 40], [20, 40], [30, 40], [52, 60]], 0.4),  # nose 12 px aside, eyes 30 px apart
        (DLIB, [[40, 60], [40, 50], [40, 20], [40, 30], [40, 40]], 0.0),  # rolled 90 degrees, still frontal
        # YuNet's order, the same faces: eye centres (image-left first), nose tip, mouth corners.
        # Regression: read in dlib's order, the frontal face scored 0.65 and YuNet never named anyone.
        (YUNET, [[25, 40], [55, 40], [40, 60], [30, 75], [50, 75]], 0.0),
        (YUNET, [[25, 40], [55, 40], [52, 60], [42, 75], [62, 75]], 0.4),
        (YUNET, [[40, 25], [40, 55], [40, 40], [50, 30], [50, 50]], 0.0),
    ],
)
def test_yaw_ratio_reads_every_landmark_scheme_by_name(scheme, points, expected):
    lm = Landmarks(np.array([points], np.float32), scheme)
    assert yaw_ratio(lm.eye_centres()[0], lm.nose()[0]) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("size", "sharp", "score", "yaw", "low", "high"),
    [
        (120, 400, 1.5, 0.0, 0.99, 1.0),  # large, sharp, sure, frontal
        (120, 400, 1.5, None, 0.99, 1.0),  # no landmarks: not penalised
        (20, 400, 1.5, 0.0, 0.0, 0.0),  # too small to be worth anything
        (120, 30, 1.5, 0.0, 0.5, 0.6),  # blurred: 0.077 ** 0.25
        (60, 400, 1.5, 0.3, 0.6, 0.7),  # half size and turned: (0.5 * 0.375) ** 0.25
    ],
)
def test_face_quality(size, sharp, score, yaw, low, high):
    q = face_quality(size, sharp, score, yaw, QualitySettings())
    assert low <= q.value <= high


def test_blur_lowers_sharpness_on_a_real_face():
    grey = cv2.cvtColor(load_image(LIN), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    box = np.array([w * 0.25, h * 0.15, w * 0.75, h * 0.75])
    blurred = cv2.GaussianBlur(grey, (0, 0), 6)
    assert sharpness(blurred, box) < sharpness(grey, box) / 4
    assert sharpness(grey, np.array([0, 0, 2, 2])) == 0.0  # degenerate box


@pytest.mark.parametrize(
    ("moving", "tracking", "since", "expected"),
    [
        (True, False, None, True), (False, False, None, False), (False, True, None, True),
        (True, False, 0.1, False), (True, False, 0.2, True), (False, False, 5.0, False),
        (False, True, 0.3, False), (False, True, 0.5, True), (True, True, 0.2, True),
    ],
)
def test_should_detect(moving, tracking, since, expected):
    assert should_detect(moving, tracking, since, motion_interval_s=0.2, tracked_interval_s=0.5) is expected


def test_changed_fraction_and_masks():
    bg = np.zeros((10, 20), np.float32)
    cur = bg.copy()
    cur[:, :5] = 50  # the left quarter changed
    keep = zone_mask((10, 20), ())
    assert changed_fraction(bg, cur, keep, 12) == pytest.approx(0.25)
    masked = zone_mask((10, 20), ((0.0, 0.0, 0.25, 1.0),))
    assert changed_fraction(bg, cur, masked, 12) == 0.0
    assert changed_fraction(bg, cur, np.zeros_like(keep), 12) == 0.0


def test_gate_sees_a_face_move_but_not_noise_or_a_masked_zone():
    rng = np.random.default_rng(0)
    face = cv2.resize(load_image(LIN), (120, 120))
    scene = np.full((360, 640, 3), 90, np.uint8)

    def at(x: int, noise: bool = True) -> np.ndarray:
        f = scene.copy()
        f[100:220, x:x + 120] = face
        if noise:  # sensor noise of a few grey levels must not count as motion
            f = np.clip(f.astype(np.int16) + rng.integers(-3, 4, f.shape), 0, 255).astype(np.uint8)
        return f

    gate = MotionGate(MotionConfig())
    assert gate.update(at(100)) is True  # the first frame counts as motion
    assert gate.update(at(100)) is False
    assert gate.update(at(100)) is False
    assert gate.update(at(160)) is True
    masked = MotionGate(MotionConfig(masks=((0.0, 0.0, 0.6, 1.0),)))
    masked.update(at(100))
    assert masked.update(at(160)) is False  # all the change is inside the masked zone
    assert MotionGate(MotionConfig(enabled=False)).update(at(100)) is True


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"width_px": 8}, "width_px"), ({"threshold": 0}, "threshold"),
     ({"masks": ((0.5, 0, 0.2, 1),)}, "masks")],
)
def test_motion_settings_are_checked(kwargs, error):
    with pytest.raises(ValidationError, match=error):
        MotionConfig(**kwargs)


def test_motion_config_per_camera_and_bad_masks_point_at_the_key():
    cfg = parse_config('[motion]\nmin_area = 0.01\n[cameras.door]\nsource = "0"\n'
                       '[cameras.door.motion]\nmasks = [[0, 0, 0.5, 1]]\n')
    assert cfg.motion_for("door").masks == ((0.0, 0.0, 0.5, 1.0),) and cfg.motion_for("door").min_area == 0.01
    assert cfg.motion_for("other").masks == ()
    with pytest.raises(ConfigError, match=r"<config>:2: motion.masks: .*x1 < x2"):
        parse_config("[motion]\nmasks = [[0.5, 0, 0.2, 1]]\n")
    with pytest.raises(ConfigError, match="tracking.min_votes"):
        parse_config("[tracking]\nmin_votes = 0\n")
