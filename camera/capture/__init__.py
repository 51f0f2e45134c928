"""Frame sources and the capture worker.

:func:`open_source` turns a source string into a :class:`FrameSource`:

=========================  ==========================================
``0``, ``/dev/video0``     V4L2 / USB camera (index or device path)
``rtsp://…``, ``http://…`` network camera (RTSP, HTTP, MJPEG) via FFmpeg
``picamera``, ``picamera:1``  Raspberry Pi camera, read from an ``rpicam-vid`` child process
``picamera2``, ``picamera2:1``  Raspberry Pi camera through picamera2, in process (needs the
                               system's python3-picamera2 and a numpy it was built for)
a folder                   its photos, in file-name order
a file                     a video file
=========================  ==========================================
"""

from __future__ import annotations

import re
from pathlib import Path

from camera.capture.base import FrameSource, RawFrame
from camera.capture.folder import ImageFolderSource
from camera.capture.looping import LoopingSource
from camera.capture.opencv_sources import LiveCaptureSource, VideoFileSource
from camera.capture.picamera import PiCameraSource
from camera.capture.rpicam import RpicamSource
from camera.capture.worker import CaptureStats, CaptureWorker
from camera.errors import CameraUnavailable

__all__ = ["CaptureStats", "CaptureWorker", "FrameSource", "RawFrame", "open_source"]

_URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.IGNORECASE)


def open_source(spec: str, loop: bool = False, pace: bool = True) -> FrameSource:
    """The :class:`FrameSource` for ``spec`` (not yet opened); ``loop`` plays a file or folder over and over
    (:class:`~camera.capture.looping.LoopingSource`), in real time unless ``pace`` is false (then as fast as
    inference takes the frames: a soak or benchmark run).

    Raises :class:`CameraUnavailable` when ``spec`` names nothing that exists, or asks to loop a live camera.
    """
    source = _source(spec)
    if not loop:
        return source
    if source.live:
        raise CameraUnavailable(f"source {spec!r} is a live camera; only a video file or a photo folder loops")
    return LoopingSource(source, pace)


def _source(spec: str) -> FrameSource:
    spec = spec.strip()
    if not spec:
        raise CameraUnavailable("empty source; give a file, folder, device (0, /dev/video0), URL or 'picamera'")
    if spec.isascii() and spec.isdigit():  # not "²": str.isdigit says yes, int() says no
        return LiveCaptureSource(int(spec))
    if _URL.match(spec):
        return LiveCaptureSource(spec)
    kind, _, index = spec.partition(":")
    if kind in ("picamera", "picamera2"):
        if index and not (index.isascii() and index.isdigit()):
            raise CameraUnavailable(f"{spec!r}: expected {kind} or {kind}:N with N a number")
        return RpicamSource(int(index or 0)) if kind == "picamera" else PiCameraSource(int(index or 0))
    if spec.startswith("/dev/video"):
        return LiveCaptureSource(spec)
    path = Path(spec).expanduser()
    try:
        if path.is_dir():
            return ImageFolderSource(path)
        if path.is_file():
            return VideoFileSource(path)
    except OSError as exc:  # e.g. a name too long for the file system
        raise CameraUnavailable(f"source {spec!r}: {exc.strerror or exc}") from exc
    raise CameraUnavailable(f"source {spec!r}: no such file, folder or device "
                            "(give a video file, a photo folder, 0 or /dev/video0, an rtsp:// URL or 'picamera')")
