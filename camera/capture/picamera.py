"""The Raspberry Pi camera through picamera2 (imported only when this source is chosen).

Install on the Pi with ``sudo apt install python3-picamera2`` (and create the
virtual environment with ``--system-site-packages``) or ``pip install
facecam[picamera]``. There is no Pi camera on the build machines: this adapter
is exercised by ``scripts/pi_camera_smoke.py`` on a Pi, and in the test suite
only through a stand-in for the ``picamera2`` module.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from camera.capture.base import RawFrame
from camera.errors import CameraUnavailable

log = logging.getLogger(__name__)


class PiCameraSource:
    """A Raspberry Pi camera module (``picamera`` or ``picamera:N`` as the source)."""

    live = True

    def __init__(self, index: int = 0, width: int = 1280, height: int = 720) -> None:
        self.index, self.width, self.height = index, width, height
        self.description = f"Raspberry Pi camera {index}"
        self._cam: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraUnavailable("the Pi camera needs picamera2: `sudo apt install python3-picamera2` "
                                    "and a virtual environment made with --system-site-packages") from exc
        try:
            cam = Picamera2(self.index)
            # picamera2's "RGB888" is laid out B, G, R in memory: OpenCV's BGR.
            cfg = cam.create_video_configuration(main={"size": (self.width, self.height), "format": "RGB888"})
            cam.configure(cfg)
            cam.start()
        except Exception as exc:  # picamera2 raises bare RuntimeError/IndexError
            raise CameraUnavailable(f"cannot start {self.description}: {exc}") from exc
        self._cam = cam

    def read(self) -> RawFrame | None:
        if self._cam is None:
            raise CameraUnavailable(f"{self.description} is not open")
        try:
            arr = self._cam.capture_array("main")
        except Exception as exc:
            raise CameraUnavailable(f"{self.description} stopped delivering frames: {exc}") from exc
        bgr = np.ascontiguousarray(arr[:, :, :3])
        return RawFrame(bgr, time.monotonic())

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None
