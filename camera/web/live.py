"""The live view: each camera's newest frame and its tracked faces, handed over by the pipeline, newest wins.

The pipeline calls :meth:`LiveView.offer` on its inference thread: it keeps a
reference and returns (no copy, no encoding). The web threads read
:meth:`LiveView.snapshot` for the faces and :meth:`LiveView.jpeg` for the
picture; each frame is JPEG-encoded at most once, on the first request,
whatever the number of clients. Boxes and names are drawn by the page over
the picture (names stay text: any script, never markup).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from camera.pipeline import TrackView
from camera.types import Frame

#: frames wider than this are scaled down before encoding (pixels)
MAX_WIDTH = 960
JPEG_QUALITY = 80


@dataclass(frozen=True)
class LiveFrame:
    """What a camera showed last: its frame index, size (pixels), when (UTC, and ``age_s`` ago) and its faces."""

    camera: str
    index: int
    width: int
    height: int
    wall_time: str
    age_s: float
    tracks: tuple[TrackView, ...]


class LiveView:
    """Newest frame per camera (a :class:`~camera.pipeline.FrameObserver`)."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[Frame, tuple[TrackView, ...], float]] = {}
        self._jpeg: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()

    def offer(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None:
        self._latest[camera] = (frame, tuple(tracks), time.monotonic())  # one atomic store: newest wins

    def cameras(self) -> list[str]:
        return sorted(self._latest)

    def snapshot(self, camera: str) -> LiveFrame | None:
        """The camera's newest frame's facts and faces, or ``None`` before its first frame."""
        got = self._latest.get(camera)
        if got is None:
            return None
        frame, tracks, at = got
        return LiveFrame(camera, frame.index, frame.width, frame.height,
                         frame.wall_time.isoformat().replace("+00:00", "Z"), time.monotonic() - at, tracks)

    def jpeg(self, camera: str) -> tuple[int, bytes] | None:
        """``(frame index, JPEG bytes)`` of the camera's newest frame, or ``None`` before its first frame."""
        got = self._latest.get(camera)
        if got is None:
            return None
        frame = got[0]
        with self._lock:
            cached = self._jpeg.get(camera)
            if cached is not None and cached[0] == frame.index:
                return cached
            rgb = frame.rgb
            if rgb.shape[1] > MAX_WIDTH:
                h = round(rgb.shape[0] * MAX_WIDTH / rgb.shape[1])
                rgb = cv2.resize(rgb, (MAX_WIDTH, h), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY,
                                                                                  JPEG_QUALITY])
            if not ok:
                return None
            self._jpeg[camera] = (frame.index, buf.tobytes())
            return self._jpeg[camera]
