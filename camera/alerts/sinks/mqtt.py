"""MQTT sink with Home Assistant discovery, presence and availability.

Topics (``base`` is ``base_topic``, default ``facecam``; ``<camera>`` and
``<person>`` are :func:`slug` forms of the names; payloads carry exact names):

* ``base/<camera>/events``: each alert, JSON from ``Alert.to_json_dict()``, QoS 1.
* ``base/presence/<person>/state``: ``home`` / ``not_home``, retained: what the
  pipeline's presence board says (``[presence] away_after_s``) when an alert
  about that person is delivered, for everyone on every connect, and when
  the view changes on its own (``[household]``: another node's sighting). The
  sink keeps no presence of its own: a replayed or late alert cannot turn
  someone ``home`` whom the board says left.
* ``base/<camera>/last_person``: exact name of the last recognised person, retained.
* ``base/<camera>/snapshot``: the JPEG bytes, retained (only with ``snapshot=True``).
* ``base/availability``: ``online`` on connect, ``offline`` as last will and on close.
* ``<discovery_prefix>/<component>/<node_id>/<object_id>/config``: Home
  Assistant discovery, retained, re-sent on every connect and when Home
  Assistant announces ``online`` on ``<discovery_prefix>/status``.

``send`` never blocks on a dead broker: when disconnected it raises
:class:`~camera.errors.AlertDeliveryError` at once (the outbox retries). When
connected it waits up to ``publish_timeout_s`` for the PUBACK. A publish that
timed out stays in paho's queue and is retransmitted on reconnect; the retry
of the same alert id then waits for that copy instead of publishing a second
one, so an outage does not duplicate events. paho reconnects by itself with
backoff between ``reconnect_min_s`` and ``reconnect_max_s``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import Field, model_validator

from camera import __version__
from camera.alerts.base import NoPresence, PresenceView, SinkContext
from camera.broker import BrokerConfig
from camera.errors import AlertDeliveryError
from camera.types import UNKNOWN, Alert, AlertKind

log = logging.getLogger(__name__)

HOME, NOT_HOME = "home", "not_home"
ONLINE, OFFLINE = "online", "offline"
PRESENCE_COMPONENTS = ("device_tracker", "binary_sensor")
MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024

_PLAIN = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
_HASHED = re.compile(r"_[0-9a-f]{8}$")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOPIC = re.compile(r"[^#+\x00]+")


def slug(name: str) -> str:
    """A topic- and id-safe form of ``name``: ``[a-z0-9_-]``, deterministic and one-to-one.

    A name that is already such a slug (and does not end like a hashed one)
    is kept; any other name becomes its ASCII-folded readable part plus ``_``
    and 8 hex digits of the SHA-256 of the exact name
    (``'Zoë "Z"'`` → ``zoe_z_1a2b3c4d``; ``'李小龙'`` → ``p_…``).
    """
    if _PLAIN.fullmatch(name) and not _HASHED.search(name):
        return name
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    readable = re.sub(r"[^a-z0-9]+", "_", folded).strip("_")[:40].rstrip("_")
    return f"{readable or 'p'}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class MqttSink:
    """Publishes alerts to an MQTT broker; see the module docstring for topics.

    ``persons`` and ``cameras`` are announced to Home Assistant at connect
    (others are announced when first seen); ``presence`` is the board whose
    answer is published for each person. ``presence_component`` is
    ``"device_tracker"`` (payload_home/payload_not_home; can be attached to a
    Home Assistant person) or ``"binary_sensor"`` (device_class presence).
    ``password`` is the secret itself (the config reads it from an
    environment variable). Times are in seconds. The constructor starts
    paho's network thread and returns at once; it does not wait for the broker.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, name: str = "mqtt",
                 username: str | None = None, password: str | None = None, client_id: str | None = None,
                 base_topic: str = "facecam", discovery: bool = True, discovery_prefix: str = "homeassistant",
                 node_id: str = "facecam", persons: Sequence[str] = (), cameras: Sequence[str] = (),
                 presence: PresenceView | None = None, presence_component: str = "device_tracker",
                 snapshot: bool = False, tls: bool = False, ca_certs: str | None = None,
                 keepalive_s: int = 30, publish_timeout_s: float = 5.0,
                 reconnect_min_s: float = 1.0, reconnect_max_s: float = 60.0) -> None:
        if presence_component not in PRESENCE_COMPONENTS:
            raise ValueError(f"presence_component: expected one of {PRESENCE_COMPONENTS}, "
                             f"got {presence_component!r}")
        if not _ID.fullmatch(node_id):
            raise ValueError(f"node_id: expected 1-64 of [A-Za-z0-9_-], got {node_id!r}")
        for what, topic in (("base_topic", base_topic), ("discovery_prefix", discovery_prefix)):
            if not _TOPIC.fullmatch(topic) or topic.startswith("/") or topic.endswith("/"):
                raise ValueError(f"{what}: expected a topic without +, #, NUL or edge slashes, got {topic!r}")
        if publish_timeout_s <= 0:
            raise ValueError(f"publish_timeout_s: expected > 0 s, got {publish_timeout_s}")
        self.name = name
        self.host, self.port = host, port
        self._base, self._prefix, self._node = base_topic, discovery_prefix, node_id
        self._discovery, self._component, self._snapshot = discovery, presence_component, snapshot
        self._timeout_s = publish_timeout_s
        self._board = presence if presence is not None else NoPresence()
        self._state_lock = threading.Lock()
        self._persons: dict[str, None] = dict.fromkeys(p for p in persons if p != UNKNOWN)
        self._cameras: dict[str, str | None] = {c: None for c in cameras}
        # PUBACK bookkeeping: every ack bumps _ack_gen and stamps its message id with it, so an event
        # published when the counter read g is acked once _acks[mid] > g (an older message that had
        # the same id was acked before). _pending keeps alert id -> (mid, g) across failed sends.
        self._ack_cond = threading.Condition()
        self._ack_gen = 0
        self._acks: dict[int, int] = {}
        self._pending: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        self._refusal = ""
        self._slug_owner: dict[tuple[str, str], str] = {}
        for p in self._persons:
            self._claim_slug("person", p)
        for c in self._cameras:
            self._claim_slug("camera", c)

        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"facecam-{node_id}-"
                        f"{secrets.token_hex(3)}", clean_session=True)
        if username is not None:
            c.username_pw_set(username, password)
        if tls:
            c.tls_set(ca_certs=ca_certs)
        c.will_set(self._availability_topic, OFFLINE, qos=1, retain=True)
        # paho annotates the delays as int but computes with them as floats (seconds)
        c.reconnect_delay_set(min_delay=reconnect_min_s, max_delay=reconnect_max_s)  # type: ignore[arg-type]
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        c.on_publish, c.on_message = self._on_publish, self._on_message
        self._client = c
        self._board.watch(self.presence_changed)
        c.connect_async(host, port, keepalive=keepalive_s)
        c.loop_start()

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the broker now."""
        return self._client.is_connected()

    # -- AlertSink -------------------------------------------------------

    def send(self, alert: Alert) -> None:
        """Publish ``alert`` and wait for the broker's PUBACK; raise AlertDeliveryError otherwise."""
        with self._send_lock:
            self._send(alert)

    def _send(self, alert: Alert) -> None:
        connected = self._client.is_connected()
        pending = self._pending.get(alert.id)
        if pending is None:
            if not connected:
                raise AlertDeliveryError(f"{self.name}: not connected to MQTT broker {self.host}:{self.port}"
                                         f"{self._refusal}")
            self._announce_new(alert)
            with self._ack_cond:
                gen = self._ack_gen
            payload = json.dumps(alert.to_json_dict(), ensure_ascii=False)
            info = self._client.publish(self._events_topic(alert.camera), payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                raise AlertDeliveryError(f"{self.name}: paho's outgoing queue is full")
            pending = self._pending[alert.id] = (info.mid, gen)
        mid, gen = pending
        with self._ack_cond:
            acked = self._ack_cond.wait_for(lambda: self._acks.get(mid, -1) > gen,
                                            self._timeout_s if connected else 0)
        if not acked:
            raise AlertDeliveryError(f"{self.name}: no PUBACK for alert {alert.id} from {self.host}:{self.port} "
                                     f"within {self._timeout_s} s; paho retransmits it on reconnect")
        del self._pending[alert.id]
        self._record(alert)

    def presence_changed(self, persons: Sequence[str]) -> None:
        """Publish what the presence view says of ``persons`` now: it changed without an alert of this node
        (another node of the household saw them, or that sighting expired). New persons are announced to Home
        Assistant first. Never waits; while disconnected it does nothing (every connect publishes everyone)."""
        if not self._client.is_connected():
            return
        new: list[tuple[str, dict[str, Any]]] = []
        with self._state_lock:
            for p in persons:
                if p != UNKNOWN and p not in self._persons and self._slug_free("person", p):
                    self._persons[p] = None
                    new.append(self._person_config(p))
            known = [p for p in persons if p in self._persons]
        for topic, cfg in new if self._discovery else []:
            self._client.publish(topic, json.dumps(cfg, ensure_ascii=False), qos=1, retain=True)
        for p in known:
            self._client.publish(self.presence_topic(p), self._presence_of(p), qos=1, retain=True)

    def close(self) -> None:
        """Publish ``offline`` (waiting up to ``publish_timeout_s``), disconnect, stop threads."""
        self._stop.set()
        if self._client.is_connected():
            info = self._client.publish(self._availability_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(self._timeout_s)
            except (RuntimeError, ValueError) as e:
                log.debug("%s: offline message not confirmed: %s", self.name, e)
        self._client.disconnect()
        self._client.loop_stop()
        if self._pending:
            log.warning("%s: closed with %d events unconfirmed (the outbox resends them)", self.name,
                        len(self._pending))

    # -- topics and discovery -------------------------------------------

    @property
    def _availability_topic(self) -> str:
        return f"{self._base}/availability"

    def _events_topic(self, camera: str) -> str:
        return f"{self._base}/{slug(camera)}/events"

    def presence_topic(self, person: str) -> str:
        """Where ``person``'s ``home``/``not_home`` state is published (retained)."""
        return f"{self._base}/presence/{slug(person)}/state"

    def discovery_messages(self) -> list[tuple[str, dict[str, Any]]]:
        """Every Home Assistant discovery ``(topic, config)`` for the persons and cameras known now."""
        with self._state_lock:
            persons, cameras = list(self._persons), list(self._cameras)
        return [self._person_config(p) for p in persons] + [m for c in cameras for m in self._camera_configs(c)]

    def _common(self, unique_id: str, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "unique_id": unique_id,
            "availability_topic": self._availability_topic,
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": {"identifiers": [f"facecam_{self._node}"], "name": f"facecam {self._node}",
                       "manufacturer": "facecam", "model": "face recognition", "sw_version": __version__},
            "origin": {"name": "facecam", "sw_version": __version__},
        }

    def _person_config(self, person: str) -> tuple[str, dict[str, Any]]:
        object_id = f"presence_{slug(person)}"
        cfg = self._common(f"{self._node}_{object_id}", person)
        cfg["state_topic"] = self.presence_topic(person)
        cfg["icon"] = "mdi:account"
        if self._component == "device_tracker":
            cfg.update(payload_home=HOME, payload_not_home=NOT_HOME, source_type="router")
        else:
            cfg.update(device_class="presence", payload_on=HOME, payload_off=NOT_HOME)
        return f"{self._prefix}/{self._component}/{self._node}/{object_id}/config", cfg

    def _camera_configs(self, camera: str) -> list[tuple[str, dict[str, Any]]]:
        cam = slug(camera)
        sensor = self._common(f"{self._node}_{cam}_last_person", f"{camera} last person")
        sensor.update(state_topic=f"{self._base}/{cam}/last_person", icon="mdi:face-recognition")
        out = [(f"{self._prefix}/sensor/{self._node}/{cam}_last_person/config", sensor)]
        if self._snapshot:
            image = self._common(f"{self._node}_{cam}_snapshot", f"{camera} snapshot")
            image["topic"] = f"{self._base}/{cam}/snapshot"
            out.append((f"{self._prefix}/camera/{self._node}/{cam}_snapshot/config", image))
        return out

    # -- state -----------------------------------------------------------

    def _announce_new(self, alert: Alert) -> None:
        """Send discovery for a person or camera seen for the first time."""
        new: list[tuple[str, dict[str, Any]]] = []
        with self._state_lock:
            if alert.camera not in self._cameras:
                self._claim_slug("camera", alert.camera)
                self._cameras[alert.camera] = None
                new += self._camera_configs(alert.camera)
            if alert.person != UNKNOWN and alert.person not in self._persons:
                self._claim_slug("person", alert.person)
                self._persons[alert.person] = None
                new.append(self._person_config(alert.person))
        if self._discovery:
            for topic, cfg in new:
                self._client.publish(topic, json.dumps(cfg, ensure_ascii=False), qos=1, retain=True)

    def _slug_free(self, kind: str, name: str) -> bool:
        """Claim ``name``'s slug like :meth:`_claim_slug`; on a clash log it and return False instead of raising."""
        try:
            self._claim_slug(kind, name)
        except AlertDeliveryError as exc:
            log.warning("%s", exc)
            return False
        return True

    def _claim_slug(self, kind: str, name: str) -> None:
        """Keep each ``kind``'s name → slug mapping one-to-one; raise on a (practically impossible) clash."""
        owner = self._slug_owner.setdefault((kind, slug(name)), name)
        if owner != name:
            raise AlertDeliveryError(f"{self.name}: {kind} names {owner!r} and {name!r} share the topic "
                                     f"slug {slug(name)!r}; rename one of them")

    def _presence_of(self, person: str) -> str:
        """``home`` or ``not_home``, as the presence board says now (unknown to it: not home)."""
        return HOME if self._board.home().get(person, False) else NOT_HOME

    def _record(self, alert: Alert) -> None:
        """After a delivered event: presence, last person and snapshot (retained, not awaited)."""
        states: list[tuple[str, bytes | str]] = []
        if alert.person != UNKNOWN:
            states.append((self.presence_topic(alert.person), self._presence_of(alert.person)))
            if alert.known and alert.kind is not AlertKind.LEFT:
                with self._state_lock:
                    self._cameras[alert.camera] = alert.person
                states.append((f"{self._base}/{slug(alert.camera)}/last_person", alert.person))
        if self._snapshot and alert.snapshot:
            try:
                path = Path(alert.snapshot)
                if path.stat().st_size <= MAX_SNAPSHOT_BYTES:
                    states.append((f"{self._base}/{slug(alert.camera)}/snapshot", path.read_bytes()))
            except OSError as e:
                log.warning("%s: snapshot %s not published: %s", self.name, alert.snapshot, e)
        for topic, payload in states:
            self._client.publish(topic, payload, qos=1, retain=True)

    def _publish_all_state(self) -> None:
        """Availability, discovery and every current state (after connect, on HA's birth message)."""
        c = self._client
        c.publish(self._availability_topic, ONLINE, qos=1, retain=True)
        if self._discovery:
            for topic, cfg in self.discovery_messages():
                c.publish(topic, json.dumps(cfg, ensure_ascii=False), qos=1, retain=True)
        with self._state_lock:
            persons = list(self._persons)
            last = [(cam, p) for cam, p in self._cameras.items() if p is not None]
        for person in persons:
            c.publish(self.presence_topic(person), self._presence_of(person), qos=1, retain=True)
        for cam, person in last:
            c.publish(f"{self._base}/{slug(cam)}/last_person", person, qos=1, retain=True)

    # -- paho callbacks (network thread; never block here) ---------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason_code: Any,
                    properties: object) -> None:
        if reason_code.is_failure:
            log.warning("%s: broker %s:%d refused the connection: %s", self.name, self.host, self.port,
                        reason_code)
            self._refusal = f" (it refused the last attempt: {reason_code})"
            return
        self._refusal = ""
        log.info("%s: connected to %s:%d", self.name, self.host, self.port)
        if self._discovery:
            client.subscribe(f"{self._prefix}/status", qos=1)
        self._publish_all_state()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason_code: Any,
                       properties: object) -> None:
        if not self._stop.is_set():
            log.warning("%s: disconnected from %s:%d (%s); reconnecting", self.name, self.host, self.port,
                        reason_code)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason_code: Any,
                    properties: object) -> None:
        with self._ack_cond:
            self._ack_gen += 1
            self._acks[mid] = self._ack_gen  # bounded: message ids are 1..65535
            self._ack_cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == f"{self._prefix}/status" and msg.payload == ONLINE.encode():
            log.info("%s: Home Assistant came online; re-sending discovery", self.name)
            self._publish_all_state()


class MqttSinkConfig(BrokerConfig):
    """MQTT with Home Assistant discovery (see the README's MQTT section); the broker keys are
    :class:`~camera.broker.BrokerConfig`'s."""

    name: str = Field("mqtt", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="sink name, used by rules")
    base_topic: str = Field("facecam", min_length=1, description="topic prefix")
    discovery: bool = Field(True, description="publish Home Assistant MQTT discovery")
    discovery_prefix: str = Field("homeassistant", min_length=1, description="Home Assistant's prefix")
    node_id: str = Field("facecam", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="discovery node id")
    presence_component: Literal["device_tracker", "binary_sensor"] = Field(
        "device_tracker", description="Home Assistant entity type for each person's presence")
    snapshot: bool = Field(False, description="publish the last snapshot for a camera entity")
    publish_timeout_s: float = Field(5.0, gt=0, le=120, description="seconds to wait for the broker's PUBACK")

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: object) -> object:
        if isinstance(data, dict) and "away_after_s" in data:
            raise ValueError("away_after_s is no longer an MQTT setting: one presence board decides for every "
                             "sink; set [presence] away_after_s instead")
        return data

    def sink_name(self, index: int) -> str:
        return self.name

    def build(self, ctx: SinkContext, index: int) -> MqttSink:
        password = self.read_password(f"alerts.mqtt {self.name!r}")
        return MqttSink(self.host, self.port, name=self.name, username=self.username, password=password,
                        base_topic=self.base_topic, discovery=self.discovery, discovery_prefix=self.discovery_prefix,
                        node_id=self.node_id, persons=ctx.persons, cameras=ctx.cameras, presence=ctx.presence,
                        presence_component=self.presence_component, snapshot=self.snapshot, tls=self.tls,
                        ca_certs=self.ca_certs, publish_timeout_s=self.publish_timeout_s)
