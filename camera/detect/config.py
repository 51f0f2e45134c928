"""The detection stage's settings (the detector keys of ``[engine]``, and per camera ``[cameras.NAME.engine]``)."""

from __future__ import annotations

from pydantic import Field

from camera.configmodel import ConfigModel

DETECTOR_NAME = r"^[A-Za-z0-9_.-]+$"


class DetectConfig(ConfigModel):
    """How hard to look for faces, and with which detector."""

    detector: str | None = Field(
        None, min_length=1, max_length=100, pattern=DETECTOR_NAME,
        description="face detector: mmod (dlib's CNN on onnxruntime; alias cnn), yunet (OpenCV Zoo's YuNet, a "
                    "fetched model), hog or dlib_cnn (need facecam[dlib]), or the name of a detector [table] in "
                    "models.toml in the model directory; default: the engine's own")
    upsample: int | None = Field(None, ge=0, le=3, description="times the image is doubled to find small faces "
                                 "(~4x the cost each); default: the detector's own")
    detect_max_width: int | None = Field(
        640, ge=32, le=8192, description="detection runs on a copy at most this wide, in pixels (none: full size); "
                                         "default: the detector's own (480 for yunet, 640 for the others)")
    min_face_px: int = Field(20, ge=0, le=4000, description="ignore faces smaller than this (shorter box side), "
                             "in full-resolution pixels")
