"""One TOML configuration file, validated by pydantic, assembled from the stages' own models.

Each stage owns its settings (``[engine]``: :class:`camera.engine.EngineConfig`;
``[motion]``: :class:`camera.motion.MotionConfig`; ``[tracking]``,
``[events]``, ``[presence]``, ``[matching]``, ``[alerts]``) and is handed
that model as it is. Unknown keys are rejected and values are bounded; each
camera may override the detector keys of ``[engine]``, ``[matching]`` and
``[motion]`` (only the keys it sets). :func:`load_config` reports a bad file
as ``FILE:LINE: key: problem``; command-line flags are applied on top with
:meth:`Config.with_overrides`, and a board ``profile`` (:mod:`camera.profiles`)
beneath both with :meth:`Config.with_profile`. See ``facecam.example.toml``
for every key.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from camera.alerts.config import AlertsConfig
from camera.configmodel import ConfigModel
from camera.detect.config import DetectConfig
from camera.engine import EngineConfig
from camera.errors import ConfigError
from camera.events.config import EventsConfig, PresenceConfig
from camera.household.config import HouseholdConfig
from camera.matching import MatchingConfig
from camera.motion.config import MotionConfig
from camera.profiles import EVERY_CAMERA, PROFILES, profile_names
from camera.redact import one_line
from camera.track.config import TrackingConfig
from camera.web.config import WebConfig

CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: the largest config file read (bytes); problems reported at most
MAX_CONFIG_BYTES = 1_000_000
MAX_PROBLEMS = 20


class CameraConfig(ConfigModel):
    """One camera: its source, and what it changes of the shared settings (only the keys it sets)."""

    source: str = Field(..., min_length=1, description="file, folder, 0 or /dev/videoN, rtsp:// URL, picamera[:N], "
                        "picamera2[:N]")
    fps_cap: float | None = Field(None, gt=0, le=120, description="process at most this many frames a second")
    realtime: bool | None = Field(None, description="drop frames when busy (default: yes for live sources)")
    loop: bool = Field(False, description="play a video file or photo folder over and over in real time, like a "
                       "live camera (demonstrations, soak tests); with realtime = false, as fast as inference goes")
    engine: DetectConfig = Field(default_factory=DetectConfig, description="detector overrides (the keys set here)")
    matching: MatchingConfig = Field(default_factory=MatchingConfig, description="threshold override")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="motion overrides (the keys set here)")


class Config(ConfigModel):
    """The whole configuration file."""

    data_dir: Path | None = Field(None, description="gallery, snapshots and caches (default: the user data dir)")
    profile: str | None = Field(None, description=f"a board's settings ({profile_names()}; camera/profiles.py) "
                                "for the keys this config and the command line leave unset; what they set wins")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log verbosity (-v: debug)")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="detection and embedding")
    matching: MatchingConfig = Field(default_factory=MatchingConfig, description="matching threshold")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="alert sinks")
    cameras: dict[str, CameraConfig] = Field(default_factory=dict, description="[cameras.NAME] tables")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="motion gating")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="tracking and track decisions")
    events: EventsConfig = Field(default_factory=EventsConfig, description="the visit log")
    presence: PresenceConfig = Field(default_factory=PresenceConfig, description="who is home")
    web: WebConfig = Field(default_factory=WebConfig, description="the web app and REST API")
    household: HouseholdConfig | None = Field(None, description="[household]: nodes sharing people and presence "
                                              "on one MQTT broker (docs/scale-out.md)")

    @field_validator("cameras")
    @classmethod
    def _camera_names(cls, v: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        for name in v:
            if not CAMERA_NAME.match(name):
                raise ValueError(f"camera name {name!r}: use letters, digits, '_' or '-' (at most 64), starting "
                                 "with a letter or digit")
        return v

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str | None) -> str | None:
        if v is not None and v not in PROFILES:
            raise ValueError(f"unknown profile {v!r}; choose one of: {profile_names()}")
        return v

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with dotted keys replaced, e.g. ``{"engine.name": "onnx"}``; ``None`` values are ignored.

        Keys the file did not set stay unset, so per-camera overrides keep meaning "only what the camera sets".
        """
        data = self.model_dump(exclude_unset=True)
        for dotted, value in changes.items():
            if value is None:
                continue
            node = data
            *parents, leaf = dotted.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        return _validated(data)

    def with_profile(self) -> Config:
        """A copy with :meth:`profile_settings` filled in (itself without a profile). Calling it again, e.g.
        after ``with_cameras``, fills in only what is new, such as a new camera's ``fps_cap``."""
        return self if self.profile is None else self.with_overrides(**self.profile_settings())

    def profile_keys(self) -> dict[str, object]:
        """The profile's settings as dotted keys, ``cameras.*`` expanded to each camera (``{}`` without one)."""
        if self.profile is None:
            return {}
        out: dict[str, object] = {}
        for dotted, value in PROFILES[self.profile].items():
            if dotted.startswith(EVERY_CAMERA):
                out.update({f"cameras.{name}.{dotted.removeprefix(EVERY_CAMERA)}": value for name in self.cameras})
            else:
                out[dotted] = value
        return out

    def profile_settings(self) -> dict[str, object]:
        """The :meth:`profile_keys` this config does not set explicitly: what its profile gives it."""
        explicit = self.model_dump(exclude_unset=True)
        return {k: v for k, v in self.profile_keys().items() if not _is_set(explicit, k)}

    def with_cameras(self, cameras: dict[str, dict[str, Any]]) -> Config:
        """A copy whose ``[cameras]`` are replaced by ``cameras`` (``--source``, the demo)."""
        return _validated({**self.model_dump(exclude_unset=True), "cameras": cameras})

    def engine_for(self, camera: str) -> EngineConfig:
        """``[engine]`` with the camera's detector overrides applied."""
        cam = self.cameras.get(camera)
        return self.engine if cam is None else self.engine.overridden_by(cam.engine)  # type: ignore[return-value]

    def motion_for(self, camera: str) -> MotionConfig:
        """``[motion]`` with the camera's overrides applied."""
        cam = self.cameras.get(camera)
        return self.motion if cam is None else self.motion.overridden_by(cam.motion)  # type: ignore[return-value]

    def max_distance_for(self, camera: str, model_default: float) -> float:
        """The camera's threshold, else the global one, else the model's default (Euclidean)."""
        cam = self.cameras.get(camera)
        if cam is not None and cam.matching.max_distance is not None:
            return cam.matching.max_distance
        return self.matching.max_distance if self.matching.max_distance is not None else model_default


def _is_set(data: dict[str, Any], dotted: str) -> bool:
    """Whether ``data`` (a ``model_dump(exclude_unset=True)``) gives the dotted key a value (``None``: no)."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node is not None


def _validated(data: dict[str, Any]) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e) for e in exc.errors())) from exc


def _describe(err: dict[str, Any]) -> str:
    key = one_line(".".join(str(p) for p in err["loc"]))  # a quoted TOML key may hold a newline or an escape
    if err["type"] == "extra_forbidden":
        msg = "unknown key (not allowed here)"
    elif err["type"] == "value_error" and "error" in err.get("ctx", {}):
        msg = str(err["ctx"]["error"])  # our own message, without pydantic's "Value error, " in front
    else:
        msg = err["msg"]
    return f"{key}: {msg}"


def load_config(path: Path | str) -> Config:
    """Read and validate a TOML file; :class:`ConfigError` names the file, line and key.

    Only a regular file of at most :data:`MAX_CONFIG_BYTES` is read (not a FIFO, a device or
    ``/dev/zero`` behind a symlink), so a wrong path fails at once instead of hanging or filling memory.
    """
    path = Path(path)
    name = one_line(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise ConfigError(f"{name}: no such config file") from exc
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL or a lone surrogate in the name: no file can have it
        raise ConfigError(f"{name}: not a possible file name ({exc})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{name}: not a regular file (a config is a TOML text file)")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{name}: {st.st_size} bytes; a config file is at most {MAX_CONFIG_BYTES} bytes")
        data = os.read(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_config(text, name)


def parse_config(text: str, name: str = "<config>") -> Config:
    """Validate TOML text; see :func:`load_config`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from exc
    except RecursionError as exc:  # tomllib recurses once per nested array or inline table
        raise ConfigError(f"{name}: not a config: arrays or tables nested too deeply") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = []
        for err in errors[:MAX_PROBLEMS]:  # each is looked up line by line: a bounded number of them
            line = find_line(text, [str(p) for p in err["loc"]])
            where = f"{name}:{line}" if line else name
            problems.append(f"{where}: {_describe(err)}")
        more = f"; and {len(errors) - MAX_PROBLEMS} more problems" if len(errors) > MAX_PROBLEMS else ""
        raise ConfigError("; ".join(problems) + more) from exc


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
