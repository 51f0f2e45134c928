"""Capture in its own thread: the newest frames win, dropped frames are counted.

Live sources: the queue holds :data:`LIVE_QUEUE_FRAMES` frames; when
inference is busy, the oldest is dropped (and counted) for the new one, so
decisions are made on the freshest pictures, at most that many frames old.
Two, not one: in a burst of work (every camera deciding on a new face at
once) inference falls a frame behind for a moment, and the frame kept may be
one of the few a far face gives (scripts/bench_capacity.py). A live failure
closes the source and reopens it after an exponential backoff (1 s doubling
to ``max_backoff_s``), logged each time.
File sources: the worker waits for room instead of dropping (nothing is lost
by waiting for a file) unless ``realtime`` is set, and ends at the file's end.
An optional ``fps_cap`` (frames per second on the source's clock) skips
frames before they are converted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
from dataclasses import dataclass

import cv2

from camera.capture.base import FrameSource
from camera.errors import CameraUnavailable
from camera.types import Frame

log = logging.getLogger(__name__)

#: frames a live source's queue holds (the oldest dropped for a new one when full)
LIVE_QUEUE_FRAMES = 2


@dataclass
class CaptureStats:
    """Counters, read by the main loop and ``facecam status``."""

    produced: int = 0
    delivered: int = 0
    dropped: int = 0
    skipped_by_cap: int = 0
    reconnects: int = 0


_END = object()


class CaptureWorker:
    """Runs ``source`` in a daemon thread and hands frames to :meth:`get`; sets ``ready`` (shared by the
    workers of a run) whenever it hands one over, or the end."""

    def __init__(self, source: FrameSource, camera: str, stop: threading.Event,
                 fps_cap: float | None = None, realtime: bool | None = None,
                 max_backoff_s: float = 30.0, ready: threading.Event | None = None) -> None:
        self.source = source
        self.camera = camera
        self.fps_cap = fps_cap
        self.drop_frames = source.live if realtime is None else realtime
        self.max_backoff_s = max_backoff_s
        self.stats = CaptureStats()
        self.error: BaseException | None = None
        self.finished = False
        self._stop = stop
        self._ready = ready or threading.Event()
        self._q: queue.Queue = queue.Queue(maxsize=LIVE_QUEUE_FRAMES if self.drop_frames else 2)
        self._thread = threading.Thread(target=self._run, name=f"capture-{camera}", daemon=True)

    def start(self) -> None:
        """Open the source in the caller's thread (so start-up errors surface), then start reading."""
        self.source.open()
        log.info("%s: opened %s", self.camera, self.source.description)
        self._thread.start()

    def get(self, timeout: float) -> Frame | None:
        """The next frame, or ``None`` if none arrived within ``timeout`` seconds (0: none waiting) or the
        source ended."""
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self.finished = True
            return None
        return item

    def join(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.source.close()

    # ----- the thread -------------------------------------------------------------

    def _run(self) -> None:
        backoff = 1.0
        last_t: float | None = None
        try:
            while not self._stop.is_set():
                try:
                    raw = self.source.read()
                except CameraUnavailable as exc:
                    if not self.source.live:
                        raise
                    self._reconnect(exc, backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                if raw is None:
                    break
                backoff = 1.0
                index = self.stats.produced
                self.stats.produced += 1
                if self.fps_cap and last_t is not None and raw.timestamp_s - last_t < 1.0 / self.fps_cap - 1e-6:
                    self.stats.skipped_by_cap += 1
                    continue
                last_t = raw.timestamp_s
                rgb = cv2.cvtColor(raw.bgr, cv2.COLOR_BGR2RGB)  # 0.1 ms for 640x360, without the GIL (numpy: 1.1)
                frame = Frame(rgb, index, raw.timestamp_s, dt.datetime.now(dt.UTC), self.camera)
                self._put(frame)
        except BaseException as exc:  # travels back to the main loop
            self.error = exc
            log.error("%s: capture failed: %s", self.camera, exc)
        finally:
            self._put_end()

    def _put(self, frame: Frame) -> None:
        if self.drop_frames:
            try:
                self._q.put_nowait(frame)
            except queue.Full:
                try:
                    self._q.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass
                self._q.put_nowait(frame)
            self.stats.delivered += 1
            self._ready.set()
            return
        while not self._stop.is_set():
            try:
                self._q.put(frame, timeout=0.2)
                self.stats.delivered += 1
                self._ready.set()
                return
            except queue.Full:
                continue

    def _put_end(self) -> None:
        while True:
            try:
                self._q.put(_END, timeout=0.2)
                self._ready.set()
                return
            except queue.Full:
                if self._stop.is_set():
                    with contextlib.suppress(queue.Empty):
                        self._q.get_nowait()

    def _reconnect(self, exc: CameraUnavailable, backoff: float) -> None:
        log.warning("%s: %s; reconnecting in %.0f s", self.camera, exc, backoff)
        self.source.close()
        if self._stop.wait(backoff):
            return
        self.stats.reconnects += 1
        try:
            self.source.open()
            log.info("%s: reconnected to %s", self.camera, self.source.description)
        except CameraUnavailable as again:
            log.warning("%s: reconnect failed: %s", self.camera, again)
