"""The one place that wires the stages together.

capture (one thread per camera) → motion gate → detect → quality → track →
embed the best faces of each track → match (with negative examples) →
per-track decision → visit book (events, presence, alert decisions) →
event writer thread (pictures, rows, then alerts) → sinks.

Inference runs in the calling thread, and in one more thread per further
core when there are cameras enough and the engine's detector and embedder
may run on several threads at once (the onnx engine's; not dlib's): each
inference thread has cameras of its own and takes the frame waiting at each
in turn. Capture never waits for inference, and inference never waits for
disk or network (the event writer does); the visit book is shared, under a
lock. The detector runs only on frames with motion, at
most every ``detect_interval_s`` seconds of the camera's clock, and at least
every ``tracked_interval_s`` while a face is tracked (every
``embed_interval_s`` while a tracked face is still undecided). Per-frame failures are
logged, counted and skipped; start-up failures (a missing camera, an unknown
engine) raise before anything runs. A newer gallery snapshot may be offered
from another thread (:meth:`Pipeline.offer_gallery`, the household sync);
each camera swaps it in on the inference thread when it tracks no face, so
a track's distances always refer to one gallery.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from camera.alerts.base import AlertSink
from camera.capture import CaptureWorker, FrameSource
from camera.cores import cpu_cores
from camera.engine import Engine
from camera.errors import AlertDeliveryError
from camera.events.store import EventStore
from camera.events.visits import Effect, OpenEvent, VisitBook
from camera.events.writer import EventWriter
from camera.matching import GalleryIndex, apply_negatives, person_distances
from camera.motion import MotionConfig, MotionGate, should_detect
from camera.track.config import TrackingConfig
from camera.track.decision import Observation, decide_track
from camera.track.quality import QualitySettings, frame_qualities
from camera.track.tracker import EmbeddedFace, Track, Tracker, embed_due, undecided
from camera.types import Alert, Detections, Frame

log = logging.getLogger(__name__)


@dataclass
class CameraStats:
    """What happened on one camera during a run.

    ``detected``: frames the detector ran on; ``faces``: faces it found;
    ``embedded``: faces embedded; ``frame_named``: embedded faces within the
    threshold of someone on their own (what a per-frame matcher would have
    named); ``tracks``: tracks that ended; ``events``: visits started;
    ``alerts``: alerts raised; ``inference_s``: seconds in motion, detection,
    embedding and decisions.
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


@dataclass(frozen=True)
class TrackView:
    """A tracked face as the live view draws it: box (xyxy pixels), track id, who (``None``: undecided) and
    the decision's distance (lower: more alike)."""

    box_xyxy: tuple[float, float, float, float]
    track: int
    person: str | None
    distance: float | None


class FrameObserver(Protocol):
    """Gets every processed frame and its tracked faces (the web app's live view). Called on the inference
    thread: it must only keep a reference (newest wins) and return at once."""

    def offer(self, camera: str, frame: Frame, tracks: Sequence[TrackView]) -> None: ...


@dataclass
class RunSummary:
    """What a run did, per camera, and how it ended."""

    cameras: dict[str, CameraStats]
    dropped: dict[str, int]
    delivery_failures: int
    wall_s: float
    stopped_by_signal: bool
    #: effects the event writer could not carry out (e.g. events not recorded on a full disk)
    event_failures: int = 0


@dataclass(frozen=True)
class CameraSetup:
    """One camera ready to run: its source, engine, gallery snapshot and settings.

    ``index`` holds the enrolled people, ``negatives`` the faces labelled as
    *not* someone (:func:`camera.matching.apply_negatives`), both from the
    engine's model. ``max_distance`` is the camera's matching threshold
    (Euclidean); ``motion`` its ``[motion]`` with overrides (intervals in
    seconds of the camera's clock).
    """

    name: str
    source: FrameSource
    engine: Engine
    index: GalleryIndex
    negatives: GalleryIndex
    max_distance: float
    motion: MotionConfig = MotionConfig()
    fps_cap: float | None = None
    realtime: bool | None = None

    def __post_init__(self) -> None:
        model = self.engine.embedder.model_id
        for what, idx in (("gallery", self.index), ("negatives", self.negatives)):
            if len(idx) and idx.model_id != model:
                raise ValueError(f"{self.name}: the {what} holds embeddings of {idx.model_id!r}, "
                                 f"the engine makes {model!r}")


class CameraRun:
    """One camera's stages from a frame to visit effects (state: the motion gate and the tracker)."""

    def __init__(self, setup: CameraSetup, tracking: TrackingConfig, quality: QualitySettings,
                 visits: VisitBook, stats: CameraStats) -> None:
        self.setup = setup
        self.tracking = tracking
        self.quality = quality
        self.visits = visits
        self.stats = stats
        self.gate = MotionGate(setup.motion)
        self.tracker = Tracker(setup.name, tracking)
        self._last_detect_s: float | None = None

    def process(self, frame: Frame) -> list[Effect]:
        """Run the stages on one frame; returns the visit effects it caused, in order."""
        s, st, m = self.setup, self.stats, self.setup.motion
        effects: list[Effect] = []
        for track in self.tracker.expire(frame.timestamp_s):  # before association: a gone face is not joined
            effects += self.finish(track)
        moving = self.gate.update(frame.rgb)
        since = None if self._last_detect_s is None else frame.timestamp_s - self._last_detect_s
        interval, tracked = m.detect_interval_s, m.tracked_interval_s
        if any(undecided(t, self.tracking) for t in self.tracker.tracks):  # a face to decide on: look closely
            interval = tracked = min(interval, self.tracking.embed_interval_s)
        if should_detect(moving, bool(self.tracker.tracks), since, interval, tracked):
            self._last_detect_s = frame.timestamp_s
            det = s.engine.detector.detect(frame.rgb)
            st.detected += 1
            st.faces += len(det)
            if len(det):
                grey = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)
                for track in self.tracker.update(frame, det, frame_qualities(grey, det, self.quality)):
                    if embed_due(track, frame.timestamp_s, self.tracking):
                        track, ended = self._embed(track, frame.timestamp_s)
                        if ended is not None:
                            effects += self.finish(ended)
                        effects += self._decide(track, final=False)
                    self.visits.seen(track)
        return effects + self.visits.tick(s.name, frame.timestamp_s, frame.wall_time)

    def views(self, frame: Frame) -> list[TrackView]:
        """The live tracks at ``frame`` (the detector runs on some frames only: each with its last box), for
        observers."""
        out = []
        for t in self.tracker.tracks:
            d = t.decision
            person = d.person if d is not None else None
            distance = d.distance if d is not None and d.decided and np.isfinite(d.distance) else None
            out.append(TrackView(tuple(float(v) for v in t.box_xyxy), t.id, person, distance))  # type: ignore[arg-type]
        return out

    def finish(self, track: Track) -> list[Effect]:
        """A track ended: its final decision, and its visit closed."""
        self.stats.tracks += 1
        return self._decide(track, final=True) + self.visits.ended(track, self.setup.index.names)

    def _embed(self, track: Track, now_s: float) -> tuple[Track, Track | None]:
        """Embed the track's waiting face; returns the track that holds it and, when the face shows someone
        other than the person the track was named as, the track that ended for it."""
        c = self.tracker.take_pending(track, now_s)
        if c is None or c.frame is None:
            return track, None
        emb = self.setup.engine.embedder.embed(c.frame.rgb, c.face)
        self.stats.embedded += 1
        idx = self.setup.index
        dist = apply_negatives(emb.vectors, person_distances(emb.vectors, idx), idx.names, self.setup.negatives,
                               self.tracking.negative_radius)
        if dist.size and float(dist[0].min()) <= self.setup.max_distance:
            self.stats.frame_named += 1
        q = c.quality
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: track %d frame %d embedded: quality %.2f (size %.0f px, sharpness %.0f, score %.2f, "
                      "yaw %s), distances %s", self.setup.name, track.id, c.frame.index, q.value, q.size_px,
                      q.sharpness, q.detector_score, "-" if q.yaw_ratio is None else f"{q.yaw_ratio:.2f}",
                      dict(zip(idx.names, np.round(dist[0], 3).tolist(), strict=True)))
        face = EmbeddedFace(c, emb.vectors[0], Observation(q.value, dist[0], c.frame.timestamp_s, q.size_px))
        d = track.decision
        mean = track.mean_vector()
        if d is not None and d.is_known and mean is not None:  # a check: is it still the face the track named?
            # one person's faces in a track lie within ~0.4 of their mean; another face (a scene cut, someone
            # taking their place) lies farther, even when it is close enough to the named person to pass the matcher
            if float(np.linalg.norm(emb.vectors[0] - mean)) <= self.tracking.link_max_distance:
                return track, None
            new = self.tracker.split(track, face)[1]
            return new, track
        return self.tracker.add_embedded(track, face), None

    def _decide(self, track: Track, final: bool) -> list[Effect]:
        old = track.decision
        if old is not None and old.is_known:
            return []  # a named track stays named
        new = decide_track([e.observation for e in track.embedded], self.setup.index.names, self.tracking,
                           self.setup.max_distance, final)
        self.tracker.decide(track, new)
        if new.decided and (old is None or not old.decided or (new.is_known and not old.is_known)):
            return self.visits.decided(track, old is not None and old.decided, self.setup.index.names)
        return []


def load_models(cameras: Sequence[CameraSetup]) -> None:
    """Embed a blank face once with each camera's embedder and run its detector once on the blank frame (the
    results are thrown away), before capture starts.

    Embedders load their model on first use, and building dlib_resnet's onnxruntime session (its graph
    optimisation) peaks ~28 MB above what the session then keeps. Done here, that peak falls before the
    capture queue, the frames in flight and the detector's buffers exist rather than on top of them:
    ``facecam run --detector yunet`` on the hamilton clip peaked ~19 MB lower (issue 15). A model that cannot
    be loaded is reported now, before any camera opens, instead of at the first face (or, for a detector, as
    an error on every frame).
    """
    blank = np.zeros((WARM_UP_PX, WARM_UP_PX, 3), np.uint8)
    face = Detections(np.array([[WARM_UP_PX / 4, WARM_UP_PX / 4, WARM_UP_PX * 3 / 4, WARM_UP_PX * 3 / 4]],
                               np.float32), np.ones(1, np.float32))
    done: set[int] = set()
    for cam in cameras:
        embedder, detector = cam.engine.embedder, cam.engine.detector
        if id(embedder) not in done:
            done.add(id(embedder))
            embedder.embed(blank, face)
        if id(detector) not in done:
            done.add(id(detector))
            detector.detect(blank)


#: side (pixels) of the blank image :func:`load_models` embeds; its face is the middle half
WARM_UP_PX = 160


class Pipeline:
    """Runs cameras until their sources end or :attr:`stop` is set.

    ``store`` is the event store this run writes (opened for writing, or
    ``None`` to keep nothing); ``sinks`` get every alert, in order, from the
    event writer's thread. ``inference_threads``: how many threads run
    inference (``None``: :meth:`inference_thread_count` decides).
    """

    def __init__(self, cameras: Sequence[CameraSetup], sinks: Sequence[AlertSink], visits: VisitBook,
                 store: EventStore | None, tracking: TrackingConfig | None = None,
                 attach_snapshots: bool = False, quality: QualitySettings | None = None,
                 observers: Sequence[FrameObserver] = (), inference_threads: int | None = None) -> None:
        if not cameras:
            raise ValueError("no cameras to run")
        self.cameras = list(cameras)
        self.sinks = list(sinks)
        self.visits = visits
        self.tracking = tracking or TrackingConfig()
        self.quality = quality or QualitySettings()
        self.writer = None if store is None else EventWriter(store, self._deliver, attach_snapshots)
        self.observers = list(observers)
        self.inference_threads = inference_threads
        self.stop = threading.Event()
        self._delivery_failures = 0
        #: "end" when every source ended, "signal" when stopped by SIGINT/SIGTERM.
        self.stop_reason = "end"
        #: per-camera counters and capture workers of the run in progress (``facecam status``)
        self.live_stats: dict[str, CameraStats] = {}
        self.workers: list[CaptureWorker] = []
        #: model id -> the newest gallery and negatives offered (:meth:`offer_gallery`)
        self._offered: dict[str, tuple[GalleryIndex, GalleryIndex]] = {}

    def offer_gallery(self, index: GalleryIndex, negatives: GalleryIndex) -> None:
        """A newer snapshot of the gallery (from any thread); each camera whose engine makes ``index.model_id``
        takes it before its next frame with no face tracked. Only a reference is stored here."""
        self._offered[index.model_id] = (index, negatives)

    def inference_thread_count(self) -> int:
        """One inference thread per core, at most one per camera, when every camera's detector and embedder
        say they may run on several threads at once (``thread_safe``); else one. ``inference_threads`` (at
        most one per camera) wins."""
        if self.inference_threads is not None:
            return max(1, min(self.inference_threads, len(self.cameras)))
        shared = all(getattr(c.engine.detector, "thread_safe", False) and getattr(c.engine.embedder, "thread_safe",
                                                                                  False) for c in self.cameras)
        return min(cpu_cores(), len(self.cameras)) if shared else 1

    def run(self) -> RunSummary:
        """Open every camera (raising CameraUnavailable at once if one cannot), then loop."""
        t0 = time.monotonic()
        workers: list[CaptureWorker] = []
        stats = {c.name: CameraStats() for c in self.cameras}
        runs = {c.name: CameraRun(c, self.tracking, self.quality, self.visits, stats[c.name]) for c in self.cameras}
        self.live_stats, self.workers = stats, workers  # read by the status writer while running
        load_models(self.cameras)
        if self.writer is not None:
            self.writer.start()
        n = self.inference_thread_count()
        readies = [threading.Event() for _ in range(n)]  # camera k belongs to inference thread k % n
        try:
            for k, cam in enumerate(self.cameras):
                w = CaptureWorker(cam.source, cam.name, self.stop, cam.fps_cap, cam.realtime, ready=readies[k % n])
                w.start()
                workers.append(w)
            if n > 1:
                log.info("inference on %d threads, %s", n, "; ".join(
                    f"{', '.join(w.camera for w in workers[k::n])}" for k in range(n)))
            self._loops([(workers[k::n], readies[k]) for k in range(n)], runs)
        finally:
            self.stop.set()
            for w in workers:
                w.join()
            self._close(runs)
        for w in workers:
            if w.error is not None and not isinstance(w.error, Exception):
                raise w.error
        return RunSummary(stats, {w.camera: w.stats.dropped for w in workers}, self._delivery_failures,
                          time.monotonic() - t0, stopped_by_signal=self.stop_reason == "signal",
                          event_failures=self.writer.failures if self.writer is not None else 0)

    def problems(self) -> list[str]:
        """What is wrong now (events not recorded, alerts held in memory), one line each; ``[]`` when all is well."""
        found = [] if self.writer is None else [self.writer.problem]
        found += [getattr(s, "problem", None) for s in self.sinks]
        return [p for p in found if p]

    def _close(self, runs: dict[str, CameraRun]) -> None:
        """End every open track (its visit gets its end time), store presence, drain the writer, close sinks."""
        try:
            for run in runs.values():
                for track in run.tracker.expire(float("inf")):
                    self._submit(run.finish(track))
            self._submit(self.visits.close())
        except Exception as exc:  # shutting down must go on: the writer and sinks still need closing
            log.exception("closing the open visits failed: %s", exc)
        finally:
            if self.writer is not None:
                try:
                    self.writer.close()
                except Exception as exc:
                    log.error("closing the event store failed: %s", exc)
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception as exc:  # closing one sink must not stop closing the others
                    log.error("closing sink %s failed: %s", getattr(sink, "name", sink), exc)

    def _loops(self, groups: list[tuple[list[CaptureWorker], threading.Event]], runs: dict[str, CameraRun]) -> None:
        """:meth:`_loop` over each group of cameras, the first in this thread, the others in threads of their
        own; returns when all have ended. A loop that fails stops them all, and its error is raised here."""
        errors: list[BaseException] = []

        def loop(workers: list[CaptureWorker], ready: threading.Event) -> None:
            try:
                self._loop(workers, ready, runs)
            except BaseException as exc:  # travels back to this thread
                errors.append(exc)
                self.stop.set()

        threads = [threading.Thread(target=loop, args=group, name=f"inference-{k}", daemon=True)
                   for k, group in enumerate(groups[1:], 1)]
        for t in threads:
            t.start()
        try:
            self._loop(*groups[0], runs)
        except BaseException:
            self.stop.set()
            raise
        finally:
            for t in threads:
                while t.is_alive():  # a timeout keeps this thread free for signals
                    t.join(0.5)
        if errors:
            raise errors[0]

    def _loop(self, workers: list[CaptureWorker], ready: threading.Event, runs: dict[str, CameraRun]) -> None:
        """Take the frame waiting at each camera in turn (one each per round, so a busy camera cannot starve
        the others); with none waiting anywhere, sleep until a capture worker hands one over (waiting on one
        camera instead would leave the others' frames to be overwritten meanwhile)."""
        active = list(workers)
        while active and not self.stop.is_set():
            ready.clear()  # before looking: a frame handed over from now on wakes the wait below
            took = False
            for w in list(active):
                frame = w.get(timeout=0)
                if frame is None:
                    if w.finished:
                        active.remove(w)
                        if w.error is not None:
                            log.error("%s: capture ended with an error: %s", w.camera, w.error)
                        else:
                            log.info("%s: end of %s", w.camera, w.source.description)
                    continue
                took = True
                self._handle(runs[w.camera], frame)
            if not took:
                ready.wait(0.5)

    def _handle(self, run: CameraRun, frame: Frame) -> None:
        offered = self._offered.get(run.setup.engine.embedder.model_id)
        if offered is not None and offered[0] is not run.setup.index and not run.tracker.tracks:
            run.setup = dataclasses.replace(run.setup, index=offered[0], negatives=offered[1])
            log.info("%s: gallery updated: %d people, %d photos", run.setup.name, len(offered[0].names),
                     len(offered[0]))
        st = run.stats
        st.frames += 1
        t = time.perf_counter()
        try:
            effects = run.process(frame)
        except Exception as exc:  # log, count, continue with the next frame
            st.errors += 1
            log.exception("%s: frame %d failed: %s", run.setup.name, frame.index, exc)
            return
        finally:
            st.inference_s += time.perf_counter() - t
        self._submit(effects)
        if self.observers:
            views = run.views(frame)
            for o in self.observers:
                try:
                    o.offer(run.setup.name, frame, views)
                except Exception as exc:  # an observer must never stop recognition
                    log.warning("%s: frame observer failed: %s", run.setup.name, exc)

    def _submit(self, effects: list[Effect]) -> None:
        """Count the visits and alerts, and hand the effects to the event writer (or the alerts to the sinks)."""
        for e in effects:
            cam = self.live_stats.get(e.camera) if isinstance(e, OpenEvent | Alert) else None
            if isinstance(e, OpenEvent) and cam is not None:
                cam.events += 1
            elif isinstance(e, Alert) and cam is not None:
                cam.alerts += 1
        if self.writer is not None:
            self.writer.submit(effects)
        else:
            for e in effects:
                if isinstance(e, Alert):
                    self._deliver(e)

    def _deliver(self, alert: Alert) -> None:
        for sink in self.sinks:
            try:
                sink.send(alert)
            except AlertDeliveryError as exc:
                self._delivery_failures += 1
                log.error("alert %s not delivered: %s", alert.id, exc)
