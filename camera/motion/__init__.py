"""Motion gating: a cheap test of whether the picture changed, deciding whether the detector runs."""

from camera.motion.config import MotionConfig
from camera.motion.gate import MotionGate, should_detect

__all__ = ["MotionConfig", "MotionGate", "should_detect"]
