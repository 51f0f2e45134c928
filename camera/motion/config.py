"""The motion gate's settings (``[motion]``, and per camera ``[cameras.NAME.motion]``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from camera.configmodel import ConfigModel

Zone = tuple[float, float, float, float]


class MotionConfig(ConfigModel):
    """Motion gating: the detector runs only when the picture changes (see :mod:`camera.motion.gate`)."""

    enabled: bool = Field(True, description="gate detection on motion (false: detect at detect_interval_s always)")
    width_px: int = Field(160, ge=16, le=1920, description="frames are compared downscaled to this width, in pixels")
    blur_px: float = Field(1.5, ge=0, le=20, description="Gaussian blur sigma, in downscaled pixels (hides noise)")
    threshold: float = Field(12.0, gt=0, le=255, description="a pixel changed when it differs by more than this, "
                             "in grey levels (0-255); higher: less sensitive")
    min_area: float = Field(0.002, ge=0, le=1, description="motion when at least this fraction (0-1) of the "
                            "unmasked picture changed; higher: less sensitive")
    masks: tuple[Zone, ...] = Field(
        (), description="zones where motion is ignored: [x1, y1, x2, y2] in fractions (0-1) of the frame's width "
                        "and height")
    detect_interval_s: float = Field(0.2, ge=0, le=60, description="with motion, the detector runs at most once "
                                     "per this many seconds of the camera's clock")
    tracked_interval_s: float = Field(0.5, gt=0, le=60, description="while a face is tracked, the detector runs "
                                      "at least this often (seconds), motion or not")

    @field_validator("masks")
    @classmethod
    def _zones(cls, v: tuple[Zone, ...]) -> tuple[Zone, ...]:
        for z in v:
            if not (0 <= z[0] < z[2] <= 1 and 0 <= z[1] < z[3] <= 1):
                raise ValueError(f"mask {list(z)}: expected [x1, y1, x2, y2] with 0 <= x1 < x2 <= 1, 0 <= y1 < y2 <= 1")
        return v
