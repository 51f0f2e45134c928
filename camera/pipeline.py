"""The one place that wires the stages together.

capture (one thread per camera) → motion gate → detect → quality → track →
embed the best faces of each track → match (with negative examples) →
per-track decision → visit events, presence and alerts → sinks.

Inference runs in the calling thread and takes frames from each camera in
turn; capture never waits for it. The detector runs only on frames with
motion, at most every ``detect_interval_s`` seconds of the camera's clock,
and at least every ``tracked_interval_s`` while a face is tracked. Per-frame
failures are logged, counted and skipped; start-up failures (a missing
camera, an unknown engine) raise before anything runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from camera.alerts.base import AlertSink
from camera.capture import CaptureWorker, FrameSource
from camera.decision import DecisionSettings, Observation, decide_track
from camera.engines.base import Engine
from camera.errors import AlertDeliveryError
from camera.matching import GalleryIndex, apply_negatives, person_distances
from camera.motion import MotionGate, MotionSettings, should_detect
from camera.quality import QualitySettings, frame_qualities
from camera.tracking import EmbeddedFace, Track, Tracker, TrackingSettings, embed_due
from camera.types import UNKNOWN, Alert, Detections, Frame
from camera.visits import VisitRecorder

log = logging.getLogger(__name__)


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
    """What happened on one camera during a run.

    ``detected``: frames the detector ran on; ``faces``: faces it found;
    ``embedded``: faces embedded; ``frame_named``: embedded faces within the
    threshold of someone on their own (what a per-frame matcher would have
    named); ``tracks``: tracks that ended; ``events``:
    visits stored; ``alerts``: alerts raised; ``inference_s``: seconds in
    motion, detection, embedding and decisions.
    """

    frames: int = 0
    detected: int = 0
    faces: int = 0
    embedded: int = 0
    frame_named: int = 0
    tracks: int = 0
    events: int = 0
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
    """One camera ready to run: its source, engine, gallery snapshot and settings.

    ``index`` holds the enrolled people, ``negatives`` the faces labelled as
    *not* someone (:func:`camera.matching.apply_negatives`), both from the
    engine's model. ``detect_interval_s`` and ``tracked_interval_s`` are
    seconds of the camera's clock (see :func:`camera.motion.should_detect`).
    """

    name: str
    source: FrameSource
    engine: Engine
    index: GalleryIndex
    negatives: GalleryIndex
    motion: MotionSettings = MotionSettings()
    decision: DecisionSettings = DecisionSettings()
    detect_interval_s: float = 0.2
    tracked_interval_s: float = 0.5
    fps_cap: float | None = None
    realtime: bool | None = None

    def __post_init__(self) -> None:
        model = self.engine.embedder.model_id
        for what, idx in (("gallery", self.index), ("negatives", self.negatives)):
            if len(idx) and idx.model_id != model:
                raise ValueError(f"{self.name}: the {what} holds embeddings of {idx.model_id!r}, "
                                 f"the engine makes {model!r}")


class CameraVisits:
    """The per-camera stages from a frame to track decisions (state: the motion gate and the tracker)."""

    def __init__(self, setup: CameraSetup, tracking: TrackingSettings, quality: QualitySettings,
                 negative_radius: float, stats: CameraStats) -> None:
        self.setup = setup
        self.tracking = tracking
        self.quality = quality
        self.negative_radius = negative_radius
        self.stats = stats
        self.gate = MotionGate(setup.motion)
        self.tracker = Tracker(setup.name, tracking)
        self._last_detect_s: float | None = None

    def process(self, frame: Frame, recorder: VisitRecorder) -> None:
        """Run the stages on one frame and hand decisions and ended tracks to ``recorder``."""
        s, st = self.setup, self.stats
        for track in self.tracker.expire(frame.timestamp_s):  # before association: a gone face is not joined
            self.finish(track, recorder)
        moving = self.gate.update(frame.rgb)
        since = None if self._last_detect_s is None else frame.timestamp_s - self._last_detect_s
        if should_detect(moving, bool(self.tracker.tracks), since, s.detect_interval_s, s.tracked_interval_s):
            self._last_detect_s = frame.timestamp_s
            det: Detections = s.engine.detector.detect(frame.rgb)
            st.detected += 1
            st.faces += len(det)
            if len(det):
                grey = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)
                qualities = frame_qualities(grey, det.xyxy, det.scores, det.landmarks, self.quality)
                for track in self.tracker.update(frame, det.xyxy, det.scores, det.landmarks, qualities):
                    if embed_due(track, frame.timestamp_s, self.tracking):
                        track = self._embed(track, frame.timestamp_s)
                        self._decide(track, recorder, final=False)
                    recorder.seen(track)
        recorder.tick(s.name, frame.timestamp_s, frame.wall_time)

    def finish(self, track: Track, recorder: VisitRecorder) -> None:
        """A track ended: make its final decision and close its visit."""
        self.stats.tracks += 1
        self._decide(track, recorder, final=True)
        recorder.ended(track)

    def _embed(self, track: Track, now_s: float) -> Track:
        c = track.pending
        if c is None or c.frame is None:
            return track
        track.pending, track.last_embed_s = None, now_s
        lm = None if c.landmarks is None else c.landmarks[None].astype(np.float32)
        det = Detections(c.box_xyxy[None].astype(np.float32), np.array([c.score], np.float32), lm)
        emb = self.setup.engine.embedder.embed(c.frame.rgb, det)
        self.stats.embedded += 1
        idx = self.setup.index
        dist = apply_negatives(emb.vectors, person_distances(emb.vectors, idx), idx.names, self.setup.negatives,
                               self.negative_radius)
        if dist.size and float(dist[0].min()) <= self.setup.decision.max_distance:
            self.stats.frame_named += 1
        obs = Observation(c.quality.value, dist[0], c.frame.timestamp_s)
        q = c.quality
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: track %d frame %d embedded: quality %.2f (size %.0f px, sharpness %.0f, score %.2f, "
                      "yaw %s), distances %s", self.setup.name, track.id, c.frame.index, q.value, q.size_px, q.sharpness,
                      q.detector_score, "-" if q.yaw_ratio is None else f"{q.yaw_ratio:.2f}",
                      dict(zip(idx.names, np.round(dist[0], 3).tolist(), strict=True)))
        track.add_embedded(EmbeddedFace(c, emb.vectors[0], obs))
        return self.tracker.link(track)

    def _decide(self, track: Track, recorder: VisitRecorder, final: bool) -> None:
        old = track.decision
        if old is not None and old.is_known:
            return  # a named track stays named
        new = decide_track([e.observation for e in track.embedded], self.setup.index.names, self.setup.decision,
                           final)
        track.decision = new
        if new.decided and (old is None or not old.decided or (new.is_known and not old.is_known)):
            recorder.decided(track, upgraded=old is not None and old.decided)


class Pipeline:
    """Runs cameras until their sources end or :attr:`stop` is set."""

    def __init__(self, cameras: Sequence[CameraSetup], sinks: Sequence[AlertSink], recorder: VisitRecorder,
                 tracking: TrackingSettings | None = None, quality: QualitySettings | None = None,
                 negative_radius: float = 0.0) -> None:
        if not cameras:
            raise ValueError("no cameras to run")
        self.cameras = list(cameras)
        self.sinks = list(sinks)
        self.recorder = recorder
        self.recorder.deliver = self._deliver
        self._settings = (tracking or TrackingSettings(), quality or QualitySettings(), negative_radius)
        self.stop = threading.Event()
        self._delivery_failures = 0
        #: "end" when every source ended, "signal" when stopped by SIGINT/SIGTERM.
        self.stop_reason = "end"
        #: per-camera counters and capture workers of the run in progress (``facecam status``)
        self.live_stats: dict[str, CameraStats] = {}
        self.workers: list[CaptureWorker] = []

    @property
    def alerts(self) -> list[Alert]:
        """Every alert raised so far, in order."""
        return self.recorder.alerts

    def run(self) -> RunSummary:
        """Open every camera (raising CameraUnavailable at once if one cannot), then loop."""
        t0 = time.monotonic()
        workers: list[CaptureWorker] = []
        stats = {c.name: CameraStats() for c in self.cameras}
        visits = {c.name: CameraVisits(c, *self._settings, stats[c.name]) for c in self.cameras}
        self.recorder.stats = stats
        self.live_stats, self.workers = stats, workers  # read by the status writer while running
        try:
            for cam in self.cameras:
                w = CaptureWorker(cam.source, cam.name, self.stop, cam.fps_cap, cam.realtime)
                w.start()
                workers.append(w)
            self._loop(workers, visits)
        finally:
            self.stop.set()
            for w in workers:
                w.join()
            self._close_visits(visits)
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

    def _close_visits(self, visits: dict[str, CameraVisits]) -> None:
        """End every open track (its visit gets its end time), then close the event store."""
        try:
            for v in visits.values():
                for track in v.tracker.expire(float("inf")):
                    v.finish(track, self.recorder)
        except Exception as exc:  # shutting down must go on: the sinks still need closing
            log.exception("closing the open visits failed: %s", exc)
        finally:
            try:
                self.recorder.close()
            except Exception as exc:
                log.error("closing the event store failed: %s", exc)

    def _loop(self, workers: list[CaptureWorker], visits: dict[str, CameraVisits]) -> None:
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
                self._handle(visits[w.camera], frame)

    def _handle(self, cam: CameraVisits, frame: Frame) -> None:
        st = cam.stats
        st.frames += 1
        t = time.perf_counter()
        try:
            cam.process(frame, self.recorder)
        except Exception as exc:  # log, count, continue with the next frame
            st.errors += 1
            log.exception("%s: frame %d failed: %s", cam.setup.name, frame.index, exc)
        finally:
            st.inference_s += time.perf_counter() - t

    def _deliver(self, alert: Alert) -> None:
        for sink in self.sinks:
            try:
                sink.send(alert)
            except AlertDeliveryError as exc:
                self._delivery_failures += 1
                log.error("alert %s not delivered: %s", alert.id, exc)
