"""From a :class:`~camera.config.Config` to running objects: data dir, engines, sinks, pipeline.

The CLI, the service layer, the demo, the benchmark and the tests all build
through here, so what they run is what the daemon runs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import platformdirs

from camera.alerts.base import AlertSink, PresenceView, SinkContext
from camera.alerts.config import SINK_KINDS
from camera.alerts.outbox import Outbox
from camera.alerts.rules import Router, Rule
from camera.capture import open_source
from camera.config import Config
from camera.detect import DETECTORS, create_detector
from camera.detect.base import FaceDetector
from camera.detect.config import DetectConfig
from camera.embed import FaceEmbedder, create_embedder
from camera.engine import Engine, EngineConfig
from camera.errors import ConfigError
from camera.events.presence import PresenceBoard
from camera.events.store import EventStore
from camera.events.visits import VisitBook
from camera.gallery.enroll import rebuild
from camera.gallery.store import Gallery
from camera.household.presence import MergedPresence, RemoteSightings
from camera.pipeline import CameraSetup, CameraStats, FrameObserver, Pipeline

log = logging.getLogger(__name__)

DEFAULT_CAMERA = "default"
OUTBOX_DB = "outbox.sqlite3"


def data_dir(cfg: Config, override: Path | None = None) -> Path:
    """``--data-dir``, else the config's, else ``$FACECAM_DATA_DIR``, else the user data directory."""
    if override is not None:
        return Path(override).expanduser()
    if cfg.data_dir is not None:
        return Path(cfg.data_dir).expanduser()
    if os.environ.get("FACECAM_DATA_DIR"):
        return Path(os.environ["FACECAM_DATA_DIR"]).expanduser()
    return Path(platformdirs.user_data_dir("facecam"))


def model_dir(root: Path) -> Path:
    """Where converted models are cached: ``$FACECAM_MODEL_DIR``, else ``DATA_DIR/models``."""
    env = os.environ.get("FACECAM_MODEL_DIR")
    return Path(env).expanduser() if env else Path(root) / "models"


class Engines:
    """Builds detectors and embedders once each and shares them between cameras and enrolment.

    Detectors are kept per resolved :class:`DetectConfig`, embedders per
    name and ``precision``, both per ``[engine] threads``; everything converted or fetched
    lives in ``folder`` (:func:`model_dir`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._detectors: dict[tuple[DetectConfig, int | None], FaceDetector] = {}
        self._embedders: dict[tuple[str, int | None, str], FaceEmbedder] = {}

    def get(self, cfg: EngineConfig) -> Engine:
        """The engine ``cfg`` describes (its default detector chosen by what ``folder`` holds)."""
        cfg = cfg.resolved(self.folder)
        d = (cfg.detect_config(), cfg.threads)
        if d not in self._detectors:
            self._detectors[d] = create_detector(cfg.detector_name, d[0], self.folder, cfg.threads)
        e = (cfg.embedder_name, cfg.threads, cfg.precision)
        if e not in self._embedders:
            self._embedders[e] = create_embedder(e[0], self.folder, cfg.threads, cfg.precision)
        return Engine(cfg.name, self._detectors[d], self._embedders[e])

    def enrolment(self, cfg: EngineConfig) -> Engine:
        """The engine used to enrol photos: the configured detector, looking harder than on a live frame.

        Enrolment photos are few and matter: HOG and the CNNs run with at least
        one upsampling step (the detector's ``enrol_upsample``), on a copy at
        most 1600 px wide (HOG) or 800 px wide (the CNNs, whose cost grows
        faster with size), so faces of ~20 px and up are found.
        """
        cfg = cfg.resolved(self.folder)
        entry = DETECTORS.get(cfg.detector_name)
        least = entry.enrol_upsample if entry is not None else 0
        width = 1600 if cfg.detector_name == "hog" else 800
        harder = cfg.model_copy(update={"upsample": max(cfg.upsample_times, least), "detect_max_width": width})
        return self.get(harder)


def engines_for(root: Path) -> Engines:
    """The engines of data directory ``root`` (models in :func:`model_dir`)."""
    return Engines(model_dir(root))


def delivery_sinks(cfg: Config, ctx: SinkContext) -> list[AlertSink]:
    """The sinks named in ``[alerts]``, each built from its own settings (:data:`SINK_KINDS` order)."""
    sinks: list[AlertSink] = []
    try:
        for kind in SINK_KINDS:
            for i, s in enumerate(cfg.alerts.sinks_of(kind)):
                sinks.append(s.build(ctx, i))
    except BaseException:
        for s in sinks:
            s.close()
        raise
    return sinks


def build_sinks(cfg: Config, root: Path, persons: Sequence[str] = (), cameras: Sequence[str] = (),
                presence: PresenceView | None = None) -> list[AlertSink]:
    """The one sink the pipeline holds: rules in front of the durable outbox in front of every sink.

    Every alert is stored in ``root/outbox.sqlite3`` before delivery; each
    sink delivers in order with retries; undelivered alerts survive restarts.
    ``presence`` is the board sinks read (e.g. MQTT's presence topics).
    """
    ctx = SinkContext(root, tuple(persons), tuple(cameras), presence if presence is not None else PresenceBoard(
        cfg.presence))
    sinks = delivery_sinks(cfg, ctx)
    if not sinks:
        return []
    o = cfg.alerts.outbox
    outbox = Outbox(root / OUTBOX_DB, sinks, retention_days=o.retention_days, base_delay_s=o.base_delay_s,
                    max_delay_s=o.max_delay_s, max_attempts=o.max_attempts, close_timeout_s=o.close_timeout_s)
    try:
        return [Router(outbox, [Rule.from_config(r) for r in cfg.alerts.rules], cfg.alerts.timezone,
                       drain_s=o.close_timeout_s)]
    except ValueError as exc:
        outbox.close()
        raise ConfigError(str(exc)) from exc


def build_pipeline(cfg: Config, root: Path, gallery: Gallery, sinks: list[AlertSink] | None = None,
                   engines: Engines | None = None, extra_sinks: Sequence[AlertSink] = (),
                   observers: Sequence[FrameObserver] = (), household: RemoteSightings | None = None) -> Pipeline:
    """Every configured camera, with its engine, gallery snapshot and settings, ready to run.

    Stored photos without an embedding from the engine's model are embedded
    first (a model change rebuilds the gallery from its photos). ``sinks``
    ``None`` builds the configured ones (:func:`build_sinks`); a list replaces
    them. ``extra_sinks`` get every alert too, outside the outbox (the web
    app's feed); ``observers`` every processed frame (the web app's live view).
    ``household``: the other nodes' sightings (``[household]``): sinks then read
    the merged presence, and arrivals and departures are the household's.
    """
    if not cfg.cameras:
        raise ConfigError("no camera to run: give --source, or add a [cameras.NAME] table with a source")
    engines = engines or engines_for(root)
    rebuilt = rebuild(gallery, engines.enrolment(cfg.engine))
    if rebuilt:
        log.info("embedded %d stored photos with the current model", sum(o.ok for o in rebuilt))
    setups = []
    for name, cam in cfg.cameras.items():
        engine = engines.get(cfg.engine_for(name))
        model_id = engine.embedder.model_id
        index = gallery.index(model_id)
        if len(index) == 0:
            log.warning("the gallery has no one enrolled: every face will be 'unknown' "
                        "(enrol with `facecam enroll NAME PHOTO...`)")
        setups.append(CameraSetup(name, open_source(cam.source, cam.loop, pace=cam.realtime is not False), engine, index, gallery.negatives(model_id),
                                  cfg.max_distance_for(name, engine.embedder.default_max_distance),
                                  cfg.motion_for(name), cam.fps_cap, cam.realtime))
    board = PresenceBoard(cfg.presence)
    view = board if household is None else MergedPresence(board, household)
    if sinks is None:
        sinks = build_sinks(cfg, root, [p.name for p in gallery.people()], list(cfg.cameras), view)
    visits = VisitBook(board, cfg.alerts.cooldown_s, cfg.alerts.alert_unknown, setups[0].engine.embedder.model_id,
                       home_elsewhere=None if household is None else household.home_elsewhere)
    store = EventStore(root, cfg.events, repair=True)
    return Pipeline(setups, [*sinks, *extra_sinks], visits, store, cfg.tracking, attach_snapshots=cfg.alerts.snapshots,
                    observers=observers)


def status_snapshot(pipeline: Pipeline) -> Callable[[], dict]:
    """A function giving the running pipeline's per-camera counters, with frames per second since the last call."""
    last: dict[str, tuple[float, int]] = {}
    started = time.monotonic()

    def snapshot() -> dict:
        now = time.monotonic()
        dropped = {w.camera: w.stats for w in pipeline.workers}
        cameras = {}
        stats = {c.name: CameraStats() for c in pipeline.cameras} | dict(pipeline.live_stats)  # before the first frame too
        for name, st in stats.items():
            t0, f0 = last.get(name, (started, 0))
            fps = (st.frames - f0) / (now - t0) if now > t0 else 0.0
            last[name] = (now, st.frames)
            cap = dropped.get(name)
            cameras[name] = {"frames": st.frames, "fps": round(fps, 2), "dropped": cap.dropped if cap else 0,
                             "reconnects": cap.reconnects if cap else 0, "faces": st.faces, "alerts": st.alerts,
                             "visits": st.events, "errors": st.errors}
        return {"cameras": cameras, "problems": pipeline.problems()}

    return snapshot
