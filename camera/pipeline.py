"""The one place that wires the stages together.

capture (one thread per camera) → detect → embed → match → alert policy →
sinks. Inference runs in the calling thread and takes frames from each
camera in turn; capture never waits for it. Per-frame failures are logged,
counted and skipped; start-up failures (a missing camera, an unknown engine)
raise before anything runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from camera.alerts.base import AlertSink
from camera.capture import CaptureWorker, FrameSource
from camera.engines.base import Engine
from camera.errors import AlertDeliveryError
from camera.fsutil import atomic_write
from camera.matching import GalleryIndex, match_embeddings
from camera.types import UNKNOWN, Alert, Detections, Frame, Match

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceResult:
    """One face in one frame: where, how sure the detector was, and who."""

    box_xyxy: tuple[float, float, float, float]
    detector_score: float
    match: Match


class Recogniser:
    """Detect, embed and match the faces of one frame (no state across frames)."""

    def __init__(self, engine: Engine, index: GalleryIndex, max_distance: float) -> None:
        self.engine = engine
        self.index = index
        self.max_distance = max_distance

    def process(self, frame: Frame) -> list[FaceResult]:
        det: Detections = self.engine.detector.detect(frame.rgb)
        if len(det) == 0:
            return []
        emb = self.engine.embedder.embed(frame.rgb, det)
        matches = match_embeddings(emb, self.index, self.max_distance)
        return [FaceResult(tuple(float(v) for v in det.xyxy[i]), float(det.scores[i]), m)  # type: ignore[arg-type]
                for i, m in enumerate(matches)]


@dataclass
class CooldownPolicy:
    """Alert for a person on a camera at most once per ``cooldown_s`` seconds of that camera's clock.

    A pure decision over (camera, person, timestamp): repeated sightings
    within the cooldown are suppressed; ``unknown`` faces share one cooldown
    per camera and are dropped entirely when ``alert_unknown`` is False.
    """

    cooldown_s: float = 30.0
    alert_unknown: bool = True
    _last: dict[tuple[str, str], float] = field(default_factory=dict)

    def should_alert(self, camera: str, person: str, timestamp_s: float) -> bool:
        if person == UNKNOWN and not self.alert_unknown:
            return False
        key = (camera, person)
        last = self._last.get(key)
        if last is not None and 0 <= timestamp_s - last < self.cooldown_s:
            return False
        self._last[key] = timestamp_s
        return True


@dataclass
class CameraStats:
    """What happened on one camera during a run."""

    frames: int = 0
    faces: int = 0
    alerts: int = 0
    errors: int = 0
    inference_s: float = 0.0


@dataclass
class RunSummary:
    """What a run did, per camera, and how it ended."""

    cameras: dict[str, CameraStats]
    dropped: dict[str, int]
    delivery_failures: int
    wall_s: float
    stopped_by_signal: bool


@dataclass(frozen=True)
class CameraSetup:
    """One camera ready to run: its source, recogniser and capture options."""

    name: str
    source: FrameSource
    recogniser: Recogniser
    fps_cap: float | None = None
    realtime: bool | None = None


class Pipeline:
    """Runs cameras until their sources end or :attr:`stop` is set."""

    def __init__(self, cameras: Sequence[CameraSetup], sinks: Sequence[AlertSink], policy: CooldownPolicy,
                 snapshot_dir: Path | None = None) -> None:
        if not cameras:
            raise ValueError("no cameras to run")
        self.cameras = list(cameras)
        self.sinks = list(sinks)
        self.policy = policy
        self.snapshot_dir = snapshot_dir
        self.stop = threading.Event()
        self.alerts: list[Alert] = []
        self._delivery_failures = 0
        #: "end" when every source ended, "signal" when stopped by SIGINT/SIGTERM.
        self.stop_reason = "end"

    def run(self) -> RunSummary:
        """Open every camera (raising CameraUnavailable at once if one cannot), then loop."""
        t0 = time.monotonic()
        workers: list[CaptureWorker] = []
        stats = {c.name: CameraStats() for c in self.cameras}
        try:
            for cam in self.cameras:
                w = CaptureWorker(cam.source, cam.name, self.stop, cam.fps_cap, cam.realtime)
                w.start()
                workers.append(w)
            self._loop(workers, stats)
        finally:
            self.stop.set()
            for w in workers:
                w.join()
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception as exc:  # closing one sink must not stop closing the others
                    log.error("closing sink %s failed: %s", getattr(sink, "name", sink), exc)
        for w in workers:
            if w.error is not None and not isinstance(w.error, Exception):
                raise w.error
        return RunSummary(stats, {w.camera: w.stats.dropped for w in workers}, self._delivery_failures,
                          time.monotonic() - t0, stopped_by_signal=self.stop_reason == "signal")

    def _loop(self, workers: list[CaptureWorker], stats: dict[str, CameraStats]) -> None:
        setups = {c.name: c for c in self.cameras}
        active = list(workers)
        while active and not self.stop.is_set():
            for w in list(active):
                frame = w.get(timeout=0.05 if len(active) > 1 else 0.5)
                if frame is None:
                    if w.finished:
                        active.remove(w)
                        if w.error is not None:
                            log.error("%s: capture ended with an error: %s", w.camera, w.error)
                        else:
                            log.info("%s: end of %s", w.camera, w.source.description)
                    continue
                self._handle(setups[w.camera], frame, stats[w.camera])

    def _handle(self, cam: CameraSetup, frame: Frame, st: CameraStats) -> None:
        st.frames += 1
        t = time.perf_counter()
        try:
            faces = cam.recogniser.process(frame)
        except Exception as exc:  # log, count, continue with the next frame
            st.errors += 1
            log.exception("%s: frame %d failed: %s", cam.name, frame.index, exc)
            return
        finally:
            st.inference_s += time.perf_counter() - t
        st.faces += len(faces)
        for face in faces:
            m = face.match
            log.debug("%s frame %d: %s at %.3f", cam.name, frame.index, m.person, m.distance)
            if not self.policy.should_alert(cam.name, m.person, frame.timestamp_s):
                continue
            alert_id = uuid.uuid4().hex
            snapshot = self._save_snapshot(frame, alert_id) if self.snapshot_dir else None
            alert = Alert(alert_id, cam.name, frame.wall_time, m.person, m.distance, face.box_xyxy, snapshot,
                          extra={"frame": str(frame.index), "video_time_s": f"{frame.timestamp_s:.3f}"})
            st.alerts += 1
            self.alerts.append(alert)
            log.info("%s: %s (distance %.3f) at frame %d", cam.name, m.person, m.distance, frame.index)
            self._deliver(alert)

    def _deliver(self, alert: Alert) -> None:
        for sink in self.sinks:
            try:
                sink.send(alert)
            except AlertDeliveryError as exc:
                self._delivery_failures += 1
                log.error("alert %s not delivered: %s", alert.id, exc)

    def _save_snapshot(self, frame: Frame, alert_id: str) -> str | None:
        if self.snapshot_dir is None:
            return None
        day = frame.wall_time.astimezone(dt.UTC).strftime("%Y-%m-%d")
        folder = self.snapshot_dir / day
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame.rgb[:, :, ::-1]),
                                   [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise OSError("JPEG encoding failed")
            path = folder / f"{alert_id}.jpg"
            atomic_write(path, buf.tobytes())
            return str(path)
        except OSError as exc:
            log.error("snapshot for alert %s not saved: %s", alert_id, exc)
            return None

