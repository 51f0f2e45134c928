"""The Raspberry Pi camera through picamera2, in process: the ``picamera2`` / ``picamera2:N`` source.

The default ``picamera`` source reads ``rpicam-vid`` instead
(:mod:`camera.capture.rpicam`), because this one only works where Raspberry Pi
OS's ``python3-picamera2`` loads next to facecam's packages: a virtual
environment made with ``--system-site-packages`` (``bash scripts/setup.sh
--picamera``) whose numpy is the one Debian's picamera2 and simplejpeg were
built for (numpy 1.x on bookworm; picamera2 issues #1088 and #1211 show the
``numpy.dtype size changed`` failure under numpy 2). picamera2 from PyPI alone
cannot work: it needs Debian's libcamera bindings. There is no Pi camera on the
build machines: this adapter is exercised by ``scripts/pi_camera_smoke.py
--source picamera2`` on a Pi, and in the test suite only through a stand-in
for the ``picamera2`` module.
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
    """A Raspberry Pi camera module through picamera2 (``picamera2`` or ``picamera2:N`` as the source)."""

    live = True

    def __init__(self, index: int = 0, width: int = 1280, height: int = 720) -> None:
        self.index, self.width, self.height = index, width, height
        self.description = f"Raspberry Pi camera {index} (picamera2)"
        self._cam: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraUnavailable("the picamera2 source needs picamera2: `sudo apt install python3-picamera2` "
                                    "and a virtual environment made with --system-site-packages "
                                    "(bash scripts/setup.sh --picamera); the default source picamera "
                                    "(rpicam-vid) needs neither") from exc
        except ValueError as exc:  # simplejpeg built for another numpy: "numpy.dtype size changed"
            raise CameraUnavailable(f"picamera2 does not load with numpy {np.__version__} ({exc}): the system's "
                                    "picamera2 was built for another numpy; use the source picamera "
                                    "(rpicam-vid), or bash scripts/setup.sh --picamera") from exc
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
