"""Where alerts go (``[alerts]``): sinks, the outbox, routing rules, cooldown.

Each sink's settings live beside its code (``camera/alerts/sinks/NAME.py``,
a ``*SinkConfig`` with ``sink_name`` and ``build``); :class:`AlertsConfig`
lists them, one field per kind, and :data:`SINK_KINDS` is read off those
fields: adding a sink is its module and one field here.
"""

from __future__ import annotations

import typing
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from camera.alerts.sinks.command import CommandSinkConfig
from camera.alerts.sinks.desktop import DesktopSinkConfig
from camera.alerts.sinks.jsonl import JsonlSinkConfig
from camera.alerts.sinks.mqtt import MqttSinkConfig
from camera.alerts.sinks.stream import StreamSinkConfig
from camera.alerts.sinks.webhook import WebhookSinkConfig
from camera.configmodel import ConfigModel

SinkConfig = CommandSinkConfig | DesktopSinkConfig | JsonlSinkConfig | MqttSinkConfig | StreamSinkConfig | \
    WebhookSinkConfig

class OutboxConfig(ConfigModel):
    """The durable outbox every alert passes through."""

    retention_days: float = Field(7.0, gt=0, le=3650, description="days delivered alerts are kept")
    base_delay_s: float = Field(1.0, gt=0, le=3600, description="first retry delay, doubling")
    max_delay_s: float = Field(300.0, gt=0, le=86400, description="longest retry delay")
    max_attempts: int | None = Field(None, ge=1, description="give up after this many (omit: never)")
    close_timeout_s: float = Field(10.0, gt=0, le=600,
                                   description="seconds shutdown waits for queued alerts to go out")

    @model_validator(mode="after")
    def _delays_in_order(self) -> OutboxConfig:
        if self.base_delay_s > self.max_delay_s:
            raise ValueError(f"base_delay_s ({self.base_delay_s:g}) is above max_delay_s ({self.max_delay_s:g}): "
                             "the first retry cannot wait longer than the longest")
        return self


class QuietHoursConfig(ConfigModel):
    """A local-time window, HH:MM to HH:MM, that may cross midnight (end exclusive)."""

    start: str = Field(..., pattern=r"^\d{2}:\d{2}$", description="HH:MM, local time (00:00-23:59)")
    end: str = Field(..., pattern=r"^\d{2}:\d{2}$", description="HH:MM, local time (00:00-23:59), exclusive")

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, v: str) -> str:
        hh, mm = int(v[:2]), int(v[3:])
        if hh > 23 or mm > 59:
            raise ValueError(f"{v!r} is not a time of day: expected HH:MM from 00:00 to 23:59")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursConfig:
        if self.start == self.end:
            raise ValueError(f"quiet hours from {self.start} to {self.end} are empty; give two different times")
        return self


class RuleConfig(ConfigModel):
    """Which alerts go to which sinks (see the README's routing section)."""

    sinks: list[str] = Field(..., min_length=1, description="sink names this rule sends to")
    persons: list[str] = Field(default_factory=list, description="only these people (exact names)")
    cameras: list[str] = Field(default_factory=list, description="only these cameras")
    only_unknown: bool = Field(False, description="only faces that match no one")
    quiet_hours: QuietHoursConfig | None = Field(None, description="no alerts in this local-time window")
    cooldown_s: float = Field(0.0, ge=0, le=7 * 86400, description="per (sink, person, camera)")
    snapshot: bool = Field(True, description="attach the snapshot path")


class AlertsConfig(ConfigModel):
    """Where alerts go and how often."""

    jsonl: JsonlSinkConfig | None = Field(None, description="JSON-lines file for alerts: a path, '-' for "
                                          "standard output, or a [alerts.jsonl] table")
    cooldown_s: float = Field(30.0, ge=0, le=86400,
                              description="seconds (on the camera's clock) before the same person on the same "
                                          "camera starts a new visit (and alerts) again; unknown faces alert at "
                                          "most this often per camera")
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

    @model_validator(mode="after")
    def _unique_sink_names(self) -> AlertsConfig:
        names = [s.sink_name(i) for kind in SINK_KINDS for i, s in enumerate(self.sinks_of(kind))]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sink names must be unique; {', '.join(map(repr, dupes))} is used twice "
                             "(give each a different name)")
        for i, rule in enumerate(self.rules):
            for sink in rule.sinks:
                if sink not in names:
                    raise ValueError(f"rules[{i}].sinks: unknown sink {sink!r}; valid names: "
                                     f"{', '.join(names) or '(no sinks configured)'}")
        return self

    def sinks_of(self, kind: str) -> list[SinkConfig]:
        """The configured sinks of one kind (a key of :data:`SINK_KINDS`), in file order."""
        value = getattr(self, kind)
        return [] if value is None else list(value) if isinstance(value, list) else [value]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: 'America' is a folder of zones
                raise ValueError(f"unknown time zone {v!r} (use a name like 'Europe/Berlin')") from exc
        return v


def _holds_sinks(annotation: object) -> bool:
    """Whether a field's type is (a list of, or optional) sink settings."""
    if isinstance(annotation, type):
        return hasattr(annotation, "build") and hasattr(annotation, "sink_name")
    return any(_holds_sinks(a) for a in typing.get_args(annotation))


#: the fields of :class:`AlertsConfig` that hold sinks, in the order sinks are built
SINK_KINDS: tuple[str, ...] = tuple(n for n, f in AlertsConfig.model_fields.items() if _holds_sinks(f.annotation))
