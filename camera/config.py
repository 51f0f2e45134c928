"""One TOML configuration file, validated by pydantic.

Unknown keys are rejected, values are bounded, and each camera may override
the ``[engine]`` and ``[matching]`` settings. :func:`load_config` reports a
bad file as ``FILE:LINE: key: problem``; command-line flags are applied on top
with :meth:`Config.with_overrides`. See ``facecam.example.toml`` for a
commented example.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from camera.errors import ConfigError

CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: engine → (default detector, default upsampling). The onnx engine has no HOG; its MMOD CNN at upsample 0
#: finds faces of ~40 px and up (measured in the README's detector comparison), as HOG does at upsample 1.
ENGINE_DEFAULTS: dict[str, tuple[str, int]] = {"onnx": ("mmod", 0), "dlib": ("hog", 1)}
#: upsampling used when a detector is chosen without one (user detectors: 0)
DETECTOR_UPSAMPLE: dict[str, int] = {"hog": 1, "cnn": 0, "mmod": 0, "yunet": 0}
#: the built-in detector names; any other (valid) name is a detector entry of the user's models.toml
BUILTIN_DETECTORS = tuple(DETECTOR_UPSAMPLE)
DETECTOR_NAME = r"^[A-Za-z0-9_.-]+$"


class EngineConfig(_Strict):
    """Which engine detects and embeds faces, and how hard it looks."""

    name: str = Field("onnx", description="engine: 'onnx' (dlib's models on onnxruntime, no dlib needed) or "
                      "'dlib' (face_recognition)")
    detector: str | None = Field(
        None, min_length=1, max_length=100, pattern=DETECTOR_NAME,
        description="face detector (default: the engine's own, see ENGINE_DEFAULTS): hog (dlib only; frontal), "
                    "cnn/mmod (dlib's CNN; turned faces too), yunet (a fetched extra model), or the name of a "
                    "detector [table] in models.toml in the model directory (onnx engine only)")
    upsample: int | None = Field(None, ge=0, le=3, description="times the image is doubled to find small faces "
                                 "(~4x cost each; default: the engine's own)")
    detect_max_width: int | None = Field(
        640, ge=32, le=8192, description="detection runs on a copy at most this wide, in pixels (none: full size)")
    min_face_px: int = Field(20, ge=0, le=4000, description="ignore faces smaller than this, in pixels")
    embedder: str | None = Field(
        None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
        description="a user embedder: the name of a [table] in models.toml in the model directory "
                    "(onnx engine only; default: dlib's ResNet)")

    @property
    def resolved_detector(self) -> str:
        """``detector``, or the engine's default detector."""
        return self.detector or ENGINE_DEFAULTS.get(self.name, ("hog", 1))[0]

    @property
    def resolved_upsample(self) -> int:
        """``upsample``, or the engine's default for its detector."""
        if self.upsample is not None:
            return self.upsample
        return ENGINE_DEFAULTS.get(self.name, ("hog", 1))[1] if self.detector is None else \
            DETECTOR_UPSAMPLE.get(self.resolved_detector, 0)

    @model_validator(mode="after")
    def _embedder_needs_onnx(self) -> EngineConfig:
        from camera.engines import USER_EMBEDDER_ENGINES

        if self.embedder is not None and self.name not in USER_EMBEDDER_ENGINES:
            raise ValueError(f"embedder {self.embedder!r}: user embedders run on the "
                             f"{' or '.join(USER_EMBEDDER_ENGINES)} engine, not {self.name!r}")
        if self.detector is not None:
            check_detector_for_engine(self.detector, self.name)
        return self

    @field_validator("name")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        from camera.engines import ENGINES

        if v not in ENGINES:
            raise ValueError(f"unknown engine {v!r}; choose one of: {', '.join(sorted(ENGINES))}")
        return v


class MatchingConfig(_Strict):
    """When a face counts as an enrolled person."""

    max_distance: float | None = Field(
        None, gt=0.0, le=2.0,
        description="name a face only when its Euclidean distance to the person is at most this "
                    "(lower: stricter); default: the model's own (0.6 for dlib's ResNet)")


class CommandSinkConfig(_Strict):
    """Run a program per alert (argv list; never a shell)."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                             description="sink name for rules (default command, command-2, ...)")
    argv: list[str] = Field(..., min_length=1, description="program and arguments; {person}, {camera}, "
                            "{time}, {id}, {distance}, {snapshot} are replaced")
    timeout_s: float = Field(10.0, gt=0, le=600, description="seconds before the program is killed")


class WebhookSinkConfig(_Strict):
    """HTTP POST of each alert's JSON."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                             description="sink name for rules (default webhook, webhook-2, ...)")
    url: str = Field(..., pattern=r"^https?://", description="endpoint (http:// or https://)")
    timeout_s: float = Field(5.0, gt=0, le=120, description="seconds per attempt")
    retries: int = Field(3, ge=0, le=20, description="extra attempts after a failure")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers")


class MqttSinkConfig(_Strict):
    """MQTT with Home Assistant discovery (see the README's MQTT section)."""

    name: str = Field("mqtt", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="sink name, used by rules")
    host: str = Field("127.0.0.1", min_length=1, description="broker host")
    port: int = Field(1883, ge=1, le=65535, description="broker port")
    username: str | None = Field(None, description="broker user name")
    password_env: str | None = Field(None, description="environment variable that holds the password")
    base_topic: str = Field("facecam", min_length=1, description="topic prefix")
    discovery: bool = Field(True, description="publish Home Assistant MQTT discovery")
    discovery_prefix: str = Field("homeassistant", min_length=1, description="Home Assistant's prefix")
    node_id: str = Field("facecam", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="discovery node id")
    presence_component: Literal["device_tracker", "binary_sensor"] = Field(
        "device_tracker", description="Home Assistant entity type for each person's presence")
    away_after_s: float = Field(600.0, gt=0, le=7 * 86400, description="seconds unseen before not_home")
    snapshot: bool = Field(False, description="publish the last snapshot for a camera entity")
    tls: bool = Field(False, description="connect with TLS")
    ca_certs: str | None = Field(None, description="CA bundle for TLS")
    publish_timeout_s: float = Field(5.0, gt=0, le=120, description="seconds to wait for the broker's PUBACK")


class DesktopSinkConfig(_Strict):
    """freedesktop notifications on the session D-Bus."""

    name: str = Field("desktop", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="sink name, used by rules")
    bus_address: str | None = Field(None, description="D-Bus address (default $DBUS_SESSION_BUS_ADDRESS)")
    expire_ms: int = Field(-1, ge=-1, le=3_600_000, description="-1 server default, 0 until dismissed")


class StreamSinkConfig(_Strict):
    """A Unix socket sending each alert as a JSON line to every connected client."""

    path: str | None = Field(None, description="socket path (default DATA_DIR/events.sock)")
    mode: int = Field(0o600, ge=0o600, le=0o660, description="socket file mode (0o600 or 0o660)")
    max_clients: int = Field(32, ge=1, le=1024, description="connected clients at most")
    send_timeout_s: float = Field(1.0, gt=0, le=60, description="a client that stops reading is dropped")


class OutboxConfig(_Strict):
    """The durable outbox every alert passes through."""

    retention_days: float = Field(7.0, gt=0, le=3650, description="days delivered alerts are kept")
    base_delay_s: float = Field(1.0, gt=0, le=3600, description="first retry delay, doubling")
    max_delay_s: float = Field(300.0, gt=0, le=86400, description="longest retry delay")
    max_attempts: int | None = Field(None, ge=1, description="give up after this many (omit: never)")
    close_timeout_s: float = Field(10.0, gt=0, le=600,
                                   description="seconds shutdown waits for queued alerts to go out")


class QuietHoursConfig(_Strict):
    """A local-time window, HH:MM to HH:MM, that may cross midnight (end exclusive)."""

    start: str = Field(..., pattern=r"^\d{2}:\d{2}$", description="HH:MM")
    end: str = Field(..., pattern=r"^\d{2}:\d{2}$", description="HH:MM")


class RuleConfig(_Strict):
    """Which alerts go to which sinks (see the README's routing section)."""

    sinks: list[str] = Field(..., min_length=1, description="sink names this rule sends to")
    persons: list[str] = Field(default_factory=list, description="only these people (exact names)")
    cameras: list[str] = Field(default_factory=list, description="only these cameras")
    only_unknown: bool = Field(False, description="only faces that match no one")
    quiet_hours: QuietHoursConfig | None = Field(None, description="no alerts in this local-time window")
    cooldown_s: float = Field(0.0, ge=0, le=7 * 86400, description="per (sink, person, camera)")
    snapshot: bool = Field(True, description="attach the snapshot path")


class AlertsConfig(_Strict):
    """Where alerts go and how often."""

    jsonl: str | None = Field(None, description="JSON-lines file for alerts, or '-' for standard output")
    cooldown_s: float = Field(30.0, ge=0, le=86400,
                              description="seconds (on the camera's clock) before the same person on the "
                                          "same camera alerts again")
    alert_unknown: bool = Field(True, description="alert for faces that match no one")
    snapshots: bool = Field(False, description="put the path of the visit's snapshot (a JPEG of the frame under "
                            "DATA_DIR/events/) into each alert")
    command: list[CommandSinkConfig] = Field(default_factory=list, description="[[alerts.command]] sinks")
    webhook: list[WebhookSinkConfig] = Field(default_factory=list, description="[[alerts.webhook]] sinks")
    mqtt: list[MqttSinkConfig] = Field(default_factory=list, description="[[alerts.mqtt]] sinks")
    desktop: list[DesktopSinkConfig] = Field(default_factory=list, description="[[alerts.desktop]] sinks")
    stream: StreamSinkConfig | None = Field(None, description="[alerts.stream]: local Unix socket")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="[alerts.outbox]")
    rules: list[RuleConfig] = Field(default_factory=list, description="[[alerts.rules]]; none: all to all")
    timezone: str | None = Field(None, description="IANA zone for quiet hours (default: the system's)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {v!r} (use a name like 'Europe/Berlin')") from exc
        return v


class MotionConfig(_Strict):
    """Motion gating: the detector runs only when the picture changes (see camera/motion.py)."""

    enabled: bool = Field(True, description="gate detection on motion (false: detect at detect_interval_s always)")
    width_px: int = Field(160, ge=16, le=1920, description="frames are compared downscaled to this width, in pixels")
    blur_px: float = Field(1.5, ge=0, le=20, description="Gaussian blur sigma, in downscaled pixels (hides noise)")
    threshold: float = Field(12.0, gt=0, le=255, description="a pixel changed when it differs by more than this, "
                             "in grey levels (0-255); higher: less sensitive")
    min_area: float = Field(0.002, ge=0, le=1, description="motion when at least this fraction (0-1) of the "
                            "unmasked picture changed; higher: less sensitive")
    masks: list[tuple[float, float, float, float]] = Field(
        default_factory=list, description="zones where motion is ignored: [x1, y1, x2, y2] in fractions (0-1) "
                                          "of the frame's width and height")
    detect_interval_s: float = Field(0.2, ge=0, le=60, description="with motion, the detector runs at most once "
                                     "per this many seconds of the camera's clock")
    tracked_interval_s: float = Field(0.5, gt=0, le=60, description="while a face is tracked, the detector runs "
                                      "at least this often (seconds), motion or not")

    @field_validator("masks")
    @classmethod
    def _zones(cls, v: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
        for z in v:
            if not (0 <= z[0] < z[2] <= 1 and 0 <= z[1] < z[3] <= 1):
                raise ValueError(f"mask {list(z)}: expected [x1, y1, x2, y2] with 0 <= x1 < x2 <= 1, 0 <= y1 < y2 <= 1")
        return v


class MotionOverride(_Strict):
    """Per-camera changes to ``[motion]``."""

    enabled: bool | None = None
    threshold: float | None = Field(None, gt=0, le=255)
    min_area: float | None = Field(None, ge=0, le=1)
    masks: list[tuple[float, float, float, float]] | None = None
    detect_interval_s: float | None = Field(None, ge=0, le=60)
    tracked_interval_s: float | None = Field(None, gt=0, le=60)


class TrackingConfig(_Strict):
    """Following faces across frames and deciding who each track is (camera/tracking.py, camera/decision.py)."""

    iou_min: float = Field(0.3, ge=0, le=1, description="a face joins a track when its box overlaps this much (IoU)")
    max_shift: float = Field(0.75, ge=0, le=10, description="... or its centre moved at most this many face sizes")
    max_gap_s: float = Field(1.5, gt=0, le=600, description="a track ends after this many seconds unseen")
    link_max_distance: float = Field(0.45, ge=0, le=2, description="a new track joins a lost one when their faces "
                                     "are this close (Euclidean embedding distance)")
    embed_interval_s: float = Field(0.2, ge=0, le=60, description="embed the best face of each such window, seconds")
    recheck_interval_s: float = Field(1.0, ge=0, le=600, description="after an 'unknown' decision, embed a face "
                                      "this often (seconds) in case it is someone after all")
    max_embeddings: int = Field(8, ge=1, le=1000, description="faces embedded per track at most")
    min_quality: float = Field(0.4, ge=0, le=1, description="faces below this quality (0-1) are neither embedded "
                               "nor counted")
    min_votes: int = Field(3, ge=1, le=100, description="good faces that must agree before a track is named "
                           "(or called unknown)")
    min_weight: float = Field(1.5, ge=0, le=100, description="... and their summed quality")
    min_agreement: float = Field(0.7, ge=0, le=1, description="share (0-1) of the good faces' weight that must agree")
    min_margin: float = Field(0.06, ge=0, le=2, description="the named person's mean distance must beat the "
                              "second-nearest person's by this much")
    track_max_distance: float = Field(0.56, gt=0, le=2, description="the named person's quality-weighted mean "
                                      "distance over the track must be at most this (and at most max_distance)")
    negative_radius: float = Field(0.0, ge=0, le=2, description="a face this close to a negative example of NAME "
                                   "is never NAME (0: only when nearer to it than to NAME's photos)")


class EventsConfig(_Strict):
    """The visit log in DATA_DIR/events.sqlite3 with pictures in DATA_DIR/events/ (camera/events.py)."""

    known_images: bool = Field(True, description="keep snapshots and face crops of household members "
                               "(false: only of unknown faces; privacy)")
    retain_days: float = Field(30.0, gt=0, le=36500, description="events older than this many days are deleted")
    max_disk_mb: float = Field(2000.0, gt=0, le=10_000_000, description="pictures take at most this many MB; "
                               "the oldest events go first")
    jpeg_quality: int = Field(90, ge=10, le=100, description="JPEG quality of snapshots and crops")


class PresenceConfig(_Strict):
    """Who is home (camera/presence.py)."""

    away_after_s: float = Field(600.0, gt=0, le=7 * 86400, description="a person 'left' after this many seconds "
                                "unseen on the camera's clock")


def check_detector_for_engine(detector: str, engine: str) -> None:
    """Raise ValueError if ``engine`` cannot run ``detector`` (dlib: hog and cnn/mmod only;
    yunet and user detectors run on the engines of ``USER_EMBEDDER_ENGINES``)."""
    from camera.engines import USER_EMBEDDER_ENGINES

    if engine == "dlib" and detector not in ("hog", "cnn", "mmod"):
        what = "yunet" if detector == "yunet" else f"a user detector ({detector!r}, from models.toml)"
        raise ValueError(f"detector {detector!r}: the dlib engine detects with hog or cnn/mmod; {what} runs on "
                         f"the {' or '.join(USER_EMBEDDER_ENGINES)} engine")


class EngineOverride(_Strict):
    """Per-camera changes to ``[engine]`` (the engine itself is shared)."""

    detector: str | None = Field(None, min_length=1, max_length=100, pattern=DETECTOR_NAME)
    upsample: int | None = Field(None, ge=0, le=3)
    detect_max_width: int | None = Field(None, ge=32, le=8192)
    min_face_px: int | None = Field(None, ge=0, le=4000)


class CameraConfig(_Strict):
    """One camera."""

    source: str = Field(..., min_length=1, description="file, folder, 0 or /dev/videoN, rtsp:// URL, picamera")
    fps_cap: float | None = Field(None, gt=0, le=120, description="process at most this many frames a second")
    realtime: bool | None = Field(None, description="drop frames when busy (default: yes for live sources)")
    engine: EngineOverride = Field(default_factory=EngineOverride, description="detector overrides")
    matching: MatchingConfig = Field(default_factory=MatchingConfig, description="threshold override")
    motion: MotionOverride = Field(default_factory=MotionOverride, description="motion gating overrides")


class Config(_Strict):
    """The whole configuration file."""

    data_dir: Path | None = Field(None, description="gallery, snapshots and caches (default: the user data dir)")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log verbosity")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="detection and embedding")
    matching: MatchingConfig = Field(default_factory=MatchingConfig, description="matching threshold")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="alert sinks")
    cameras: dict[str, CameraConfig] = Field(default_factory=dict, description="[cameras.NAME] tables")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="motion gating")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="tracking and track decisions")
    events: EventsConfig = Field(default_factory=EventsConfig, description="the visit log")
    presence: PresenceConfig = Field(default_factory=PresenceConfig, description="who is home")

    @field_validator("cameras")
    @classmethod
    def _camera_names(cls, v: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        for name in v:
            if not CAMERA_NAME.match(name):
                raise ValueError(f"camera name {name!r}: use letters, digits, '_' or '-' (at most 64)")
        return v

    @model_validator(mode="after")
    def _camera_detectors_fit_the_engine(self) -> Config:
        for name, cam in self.cameras.items():
            if cam.engine.detector is not None:
                try:
                    check_detector_for_engine(cam.engine.detector, self.engine.name)
                except ValueError as exc:
                    raise ValueError(f"cameras.{name}.engine: {exc}") from None
        return self

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with dotted keys replaced, e.g. ``{"engine.name": "onnx"}``; ``None`` values are ignored."""
        data = self.model_dump()
        for dotted, value in changes.items():
            if value is None:
                continue
            node = data
            *parents, leaf = dotted.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        try:
            return Config.model_validate(data)
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe(e) for e in exc.errors())) from exc

    def engine_for(self, camera: str) -> EngineConfig:
        """``[engine]`` with the camera's overrides applied."""
        cam = self.cameras.get(camera)
        if cam is None:
            return self.engine
        changes = {k: v for k, v in cam.engine.model_dump().items() if v is not None}
        return self.engine.model_copy(update=changes)

    def motion_for(self, camera: str) -> MotionConfig:
        """``[motion]`` with the camera's overrides applied."""
        cam = self.cameras.get(camera)
        if cam is None:
            return self.motion
        return self.motion.model_copy(update={k: v for k, v in cam.motion.model_dump().items() if v is not None})

    def max_distance_for(self, camera: str, model_default: float) -> float:
        """The camera's threshold, else the global one, else the model's default."""
        cam = self.cameras.get(camera)
        if cam is not None and cam.matching.max_distance is not None:
            return cam.matching.max_distance
        return self.matching.max_distance if self.matching.max_distance is not None else model_default


def _describe(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"])
    msg = "unknown key (not allowed here)" if err["type"] == "extra_forbidden" else err["msg"]
    return f"{key}: {msg}"


def load_config(path: Path | str) -> Config:
    """Read and validate a TOML file; :class:`ConfigError` names the file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_config(text, str(path))


def parse_config(text: str, name: str = "<config>") -> Config:
    """Validate TOML text; see :func:`load_config`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            line = find_line(text, [str(p) for p in err["loc"]])
            where = f"{name}:{line}" if line else name
            problems.append(f"{where}: {_describe(err)}")
        raise ConfigError("; ".join(problems)) from exc


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)\s*=")


def find_line(text: str, loc: list[str]) -> int | None:
    """The 1-based line where the key at ``loc`` (e.g. ``["cameras", "door", "fps"]``) is set.

    Tracks ``[table]`` headers; falls back to the deepest table header found.
    Array indexes in ``loc`` are skipped. Returns ``None`` when nothing fits.
    """
    keys = [k for k in loc if not k.isdigit()]
    table: list[str] = []
    best: int | None = None
    for i, raw in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(raw)
        if m:
            table = [p.strip().strip("\"'") for p in m.group(1).split(".")]
            if table and keys[: len(table)] == table:
                best = i
            continue
        k = _KEY.match(raw)
        if k:
            dotted = table + [p.strip().strip("\"'") for p in k.group(1).split(".")]
            if dotted == keys or (len(dotted) < len(keys) and keys[: len(dotted)] == dotted):
                return i
    return best
