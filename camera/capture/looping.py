"""A video file or photo folder played over and over at its own speed, like a live camera.

For demonstrations, tests and soak runs: each pass continues the source's
clock where the last one ended (so tracks, cooldowns and presence see time
go on), frames are paced to that clock in wall time, and, being live, frames
are dropped rather than queued when inference is busy.
"""

from __future__ import annotations

import time

from camera.capture.base import FrameSource, RawFrame
from camera.errors import CameraUnavailable


class LoopingSource:
    """Wraps a finite :class:`~camera.capture.base.FrameSource`; ``pace`` (default) plays it in real time."""

    live = True

    def __init__(self, inner: FrameSource, pace: bool = True) -> None:
        self.inner = inner
        self.pace = pace
        self.description = f"{inner.description}, looped"
        self.passes = 0
        self._offset_s = 0.0
        self._last_s = 0.0
        self._step_s = 0.0
        self._start = 0.0

    def open(self) -> None:
        self.inner.open()
        self._start = time.monotonic() - self._last_s

    def read(self) -> RawFrame | None:
        raw = self.inner.read()
        if raw is None:  # the end of a pass: start again, the clock going on
            self.inner.close()
            self.inner.open()
            self.passes += 1
            self._offset_s = self._last_s + (self._step_s or 1 / 30)
            raw = self.inner.read()
            if raw is None:
                raise CameraUnavailable(f"{self.inner.description} has no frames to loop over")
        t = raw.timestamp_s + self._offset_s
        self._step_s = max(t - self._last_s, 0.0) or self._step_s
        self._last_s = t
        if self.pace:
            wait = self._start + t - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return RawFrame(raw.bgr, t)

    def close(self) -> None:
        self.inner.close()
