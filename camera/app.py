"""From a :class:`~camera.config.Config` to running objects: data dir, engines, sinks, pipeline.

The CLI, the demo, the benchmark and the tests all build through here, so
what they run is what the daemon runs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from camera.alerts import AlertSink, CommandSink, JsonlSink, WebhookSink
from camera.capture import open_source
from camera.config import Config, EngineConfig
from camera.decision import DecisionSettings
from camera.engines import Engine, create_engine
from camera.engines.base import DetectorSettings
from camera.enroll import rebuild
from camera.errors import ConfigError
from camera.events import EventsSettings, EventStore
from camera.gallery import Gallery
from camera.motion import MotionSettings
from camera.pipeline import CameraSetup, CooldownPolicy, Pipeline
from camera.presence import PresenceBoard
from camera.tracking import TrackingSettings
from camera.visits import VisitRecorder

log = logging.getLogger(__name__)

DEFAULT_CAMERA = "default"


def data_dir(cfg: Config, override: Path | None = None) -> Path:
    """``--data-dir``, else the config's, else ``$FACECAM_DATA_DIR``, else the user data directory."""
    if override is not None:
        return Path(override).expanduser()
    if cfg.data_dir is not None:
        return Path(cfg.data_dir).expanduser()
    if os.environ.get("FACECAM_DATA_DIR"):
        return Path(os.environ["FACECAM_DATA_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("facecam"))


def detector_settings(ec: EngineConfig) -> DetectorSettings:
    """The engine config's detector fields as :class:`DetectorSettings`."""
    return DetectorSettings(model=ec.resolved_detector, upsample=ec.resolved_upsample,  # type: ignore[arg-type]
                            max_width_px=ec.detect_max_width,
                            min_face_px=ec.min_face_px)


class EngineCache:
    """Builds one engine per distinct (name, detector settings, embedder), sharing it between cameras.

    ``embedder`` is the user embedder every engine of this cache runs (``None``: the engine's own).
    """

    def __init__(self, cache_dir: Path | None, embedder: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.embedder = embedder
        self._engines: dict[tuple[str, DetectorSettings], Engine] = {}

    def get(self, name: str, settings: DetectorSettings) -> Engine:
        key = (name, settings)
        if key not in self._engines:
            self._engines[key] = create_engine(name, settings, self.cache_dir, self.embedder)
        return self._engines[key]


def engine_cache(cfg: Config, root: Path) -> EngineCache:
    """The engines for ``cfg``: models cached in :func:`model_dir`, its user embedder if any."""
    return EngineCache(model_dir(root), cfg.engine.embedder)


def enrolment_engine(cfg: Config, engines: EngineCache) -> Engine:
    """The engine used to enrol photos: the configured detector, looking harder than on a live frame.

    Enrolment photos are few and matter: the detector runs with at least one
    upsampling step, on a copy at most 1600 px wide (HOG) or 800 px wide (the
    CNN, whose cost grows faster with size), so faces of ~20 px and up are found.
    """
    ec = cfg.engine
    det = ec.resolved_detector
    settings = DetectorSettings(model=det, upsample=max(ec.resolved_upsample, 1),  # type: ignore[arg-type]
                                max_width_px=1600 if det == "hog" else 800, min_face_px=ec.min_face_px)
    return engines.get(ec.name, settings)


def model_dir(root: Path) -> Path:
    """Where converted models are cached: ``$FACECAM_MODEL_DIR``, else ``DATA_DIR/models``."""
    env = os.environ.get("FACECAM_MODEL_DIR")
    return Path(env).expanduser() if env else Path(root) / "models"


def _auto_name(given: str | None, kind: str, i: int) -> str:
    return given or (kind if i == 0 else f"{kind}-{i + 1}")


def delivery_sinks(cfg: Config, root: Path, persons: Sequence[str] = (),
                   cameras: Sequence[str] = ()) -> list[AlertSink]:
    """The sinks named in ``[alerts]``: jsonl, commands, webhooks, MQTT, desktop, stream."""
    a = cfg.alerts
    sinks: list[AlertSink] = []
    if a.jsonl is not None:
        sinks.append(JsonlSink(a.jsonl))
    sinks += [CommandSink(c.argv, c.timeout_s, name=_auto_name(c.name, "command", i))
              for i, c in enumerate(a.command)]
    sinks += [WebhookSink(w.url, w.timeout_s, w.retries, headers=w.headers, name=_auto_name(w.name, "webhook", i))
              for i, w in enumerate(a.webhook)]
    for m in a.mqtt:
        from camera.alerts.mqtt import MqttSink

        password = None
        if m.password_env:
            if m.password_env not in os.environ:
                raise ConfigError(f"alerts.mqtt {m.name!r}: the environment variable {m.password_env} "
                                  "(password_env) is not set")
            password = os.environ[m.password_env]
        sinks.append(MqttSink(m.host, m.port, name=m.name, username=m.username, password=password,
                              base_topic=m.base_topic, discovery=m.discovery, discovery_prefix=m.discovery_prefix,
                              node_id=m.node_id, persons=tuple(persons), cameras=tuple(cameras),
                              presence_component=m.presence_component, away_after_s=m.away_after_s,
                              snapshot=m.snapshot, tls=m.tls, ca_certs=m.ca_certs,
                              publish_timeout_s=m.publish_timeout_s))
    for d in a.desktop:
        from camera.alerts.desktop import DesktopSink

        sinks.append(DesktopSink(name=d.name, bus_address=d.bus_address, expire_ms=d.expire_ms))
    if a.stream is not None:
        from camera.alerts.stream import StreamSink

        path = Path(a.stream.path).expanduser() if a.stream.path else root / "events.sock"
        sinks.append(StreamSink(path, mode=a.stream.mode, max_clients=a.stream.max_clients,
                                send_timeout_s=a.stream.send_timeout_s))
    return sinks


def build_sinks(cfg: Config, root: Path, persons: Sequence[str] = (),
                cameras: Sequence[str] = ()) -> list[AlertSink]:
    """The one sink the pipeline holds: rules in front of the durable outbox in front of every sink.

    Every alert is stored in ``root/outbox.sqlite3`` before delivery; each
    sink delivers in order with retries; undelivered alerts survive restarts.
    """
    from camera.alerts.outbox import Outbox
    from camera.alerts.rules import QuietHours, Router, Rule

    sinks = delivery_sinks(cfg, root, persons, cameras)
    if not sinks:
        return []
    o = cfg.alerts.outbox
    rules = [Rule(tuple(r.sinks), tuple(r.persons), tuple(r.cameras), r.only_unknown,
                  QuietHours.parse(r.quiet_hours.start, r.quiet_hours.end) if r.quiet_hours else None,
                  r.cooldown_s, r.snapshot) for r in cfg.alerts.rules]
    outbox = Outbox(root / "outbox.sqlite3", sinks, retention_days=o.retention_days, base_delay_s=o.base_delay_s,
                    max_delay_s=o.max_delay_s, max_attempts=o.max_attempts, close_timeout_s=o.close_timeout_s)
    try:
        return [Router(outbox, rules, cfg.alerts.timezone, drain_s=o.close_timeout_s)]
    except ValueError as exc:
        outbox.close()
        raise ConfigError(str(exc)) from exc


def build_pipeline(cfg: Config, root: Path, gallery: Gallery, sinks: list[AlertSink] | None = None) -> Pipeline:
    """Every configured camera, with its recogniser, ready to run.

    Stored photos without an embedding from the engine's model are embedded
    first (a model change rebuilds the gallery from its photos).
    """
    if not cfg.cameras:
        raise ConfigError("no camera to run: give --source, or add a [cameras.NAME] table with a source")
    engines = engine_cache(cfg, root)
    rebuilt = rebuild(gallery, enrolment_engine(cfg, engines))
    if rebuilt:
        log.info("embedded %d stored photos with the current model", sum(o.ok for o in rebuilt))
    setups = []
    t = cfg.tracking
    for name, cam in cfg.cameras.items():
        engine = engines.get(cfg.engine.name, detector_settings(cfg.engine_for(name)))
        index = gallery.index(engine.embedder.model_id)
        if len(index) == 0:
            log.warning("the gallery has no one enrolled: every face will be 'unknown' "
                        "(enrol with `facecam enroll NAME PHOTO...`)")
        max_distance = cfg.max_distance_for(name, engine.embedder.default_max_distance)
        decision = DecisionSettings(max_distance, t.track_max_distance, t.min_quality, t.min_votes, t.min_weight,
                                    t.min_agreement, t.min_margin)
        m = cfg.motion_for(name)
        motion = MotionSettings(m.enabled, m.width_px, m.blur_px, m.threshold, m.min_area,
                                masks=tuple(tuple(z) for z in m.masks))  # type: ignore[misc]
        source = open_source(cam.source)
        setups.append(CameraSetup(name, source, engine, index, gallery.negatives(engine.embedder.model_id), motion,
                                  decision, m.detect_interval_s, m.tracked_interval_s, cam.fps_cap, cam.realtime))
    if sinks is None:
        sinks = build_sinks(cfg, root, [p.name for p in gallery.people()], list(cfg.cameras))
    return Pipeline(setups, sinks, visit_recorder(cfg, root, setups[0].engine.embedder.model_id),
                    tracking_settings(cfg), negative_radius=t.negative_radius)


def tracking_settings(cfg: Config) -> TrackingSettings:
    """``[tracking]``'s association and embedding fields as :class:`TrackingSettings`."""
    t = cfg.tracking
    return TrackingSettings(t.iou_min, t.max_shift, t.max_gap_s, t.link_max_distance, t.embed_interval_s,
                            t.recheck_interval_s, t.max_embeddings, t.min_quality)


def events_settings(cfg: Config) -> EventsSettings:
    """``[events]`` as :class:`EventsSettings`."""
    e = cfg.events
    return EventsSettings(e.known_images, e.retain_days, e.max_disk_mb, e.jpeg_quality)


def visit_recorder(cfg: Config, root: Path, model_id: str) -> VisitRecorder:
    """The event store (opened for writing: it repairs itself), presence and alert policy of a run."""
    store = EventStore(root, events_settings(cfg), repair=True)
    policy = CooldownPolicy(cfg.alerts.cooldown_s, cfg.alerts.alert_unknown)
    return VisitRecorder(store, PresenceBoard(cfg.presence.away_after_s), policy, model_id,
                         attach_snapshots=cfg.alerts.snapshots)
