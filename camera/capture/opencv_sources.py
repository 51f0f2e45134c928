"""Sources read through OpenCV's VideoCapture: video files, V4L2/USB devices, network streams.

Network URLs (RTSP, HTTP, MJPEG) open with FFmpeg and bounded open/read
timeouts, so an unreachable camera fails in seconds instead of hanging.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import cv2

from camera.capture.base import RawFrame
from camera.errors import CameraUnavailable
from camera.redact import redact_url

log = logging.getLogger(__name__)

#: Milliseconds OpenCV may wait to open a network stream, and for one frame.
NETWORK_OPEN_TIMEOUT_MS = 5000
NETWORK_READ_TIMEOUT_MS = 5000


class VideoFileSource:
    """A video file, read frame by frame to its end (not live: no frame is dropped)."""

    live = False

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = f"video file {self.path}"
        self._cap: cv2.VideoCapture | None = None
        self._fps = 0.0
        self._n = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise CameraUnavailable(f"{self.path}: no such video file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise CameraUnavailable(f"{self.path}: OpenCV cannot open it as a video (unsupported or corrupt)")
        self._cap = cap
        self._fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        self._n = 0

    def read(self) -> RawFrame | None:
        if self._cap is None:
            raise CameraUnavailable(f"{self.description} is not open")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        t = self._n / self._fps if self._fps > 0 else self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        self._n += 1
        return RawFrame(bgr, t)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class LiveCaptureSource:
    """A live camera through OpenCV: a V4L2/USB device index or path, or a network URL."""

    live = True

    def __init__(self, target: int | str, width: int | None = None, height: int | None = None) -> None:
        self.target = target
        self.width, self.height = width, height
        self.is_url = isinstance(target, str) and "://" in target
        self.description = (f"stream {redact_url(str(target))}" if self.is_url else f"camera device {target}")
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        if self.is_url:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, NETWORK_OPEN_TIMEOUT_MS,
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, NETWORK_READ_TIMEOUT_MS]
            cap = cv2.VideoCapture(str(self.target), cv2.CAP_FFMPEG, params)
        else:
            if isinstance(self.target, str) and not Path(self.target).exists():
                raise CameraUnavailable(f"{self.target}: no such camera device (is it plugged in? "
                                        "`ls /dev/video*` lists the devices)")
            cap = cv2.VideoCapture(self.target, cv2.CAP_V4L2 if _is_linux() else cv2.CAP_ANY)
        if not cap.isOpened():
            cap.release()
            hint = ("check the address, port, path and credentials, and that the camera is on the network"
                    if self.is_url else "check that the device exists and that this user may read it "
                    "(the 'video' group)")
            raise CameraUnavailable(f"cannot open {self.description}: {hint}")
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._cap = cap

    def read(self) -> RawFrame | None:
        if self._cap is None:
            raise CameraUnavailable(f"{self.description} is not open")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise CameraUnavailable(f"{self.description} stopped delivering frames")
        return RawFrame(bgr, time.monotonic())

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _is_linux() -> bool:

    return sys.platform.startswith("linux")
