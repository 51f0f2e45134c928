"""The household's retained messages and their checks: pure functions, no I/O.

Topics (``base`` is ``[household] base_topic``, ``<node>`` a node's name,
``<person>`` the :func:`~camera.alerts.sinks.mqtt.slug` of a name):

* ``base/<node>/people/<person>``: a :class:`PersonRecord`, retained: the
  photos of that person enrolled *on that node* (bytes, base64) with their
  sha256 and the node's embedding of each (model id, 128 float64, face box
  in pixels). An empty retained message withdraws it.
* ``base/<node>/presence/<person>``: a :class:`Sighting`, retained: that
  node's presence board for the person (home, since, last seen, camera; UTC).
* ``base/<node>/status``: ``online``; ``offline`` as the last will.
* ``base/<node>/sync``: a nonce the node sends itself after subscribing; when
  it comes back, every retained message queued before it has arrived.

Decoding checks everything before anything is used: the size, the JSON
shape, the topic's node and slug against the payload's, the name
(:func:`~camera.gallery.store.validate_name`), each photo's bytes against
its sha256, and each embedding's shape and finiteness. Any failure refuses
the whole record (:class:`RecordRefused`): nothing of it is imported.
Encoding is deterministic (sorted keys and photos), so the same people give
the same bytes and a node republishes only what changed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np

from camera.alerts.sinks.mqtt import slug
from camera.errors import FacecamError
from camera.gallery.store import validate_name
from camera.types import utc_iso

#: the payload format; a record of another version is refused (never half-read)
VERSION = 1
PEOPLE, PRESENCE, STATUS, SYNC = "people", "presence", "status", "sync"
#: the widest embedding accepted (dlib's ResNet makes 128)
MAX_DIM = 4096
MAX_PHOTOS = 1000

_NODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


class RecordRefused(FacecamError):
    """A household message failed a check; the message says which."""


@dataclass(frozen=True)
class EmbeddingRecord:
    """A face's descriptor made by ``model_id``: ``vector`` (d,) float64, from the face at ``box_xyxy`` (pixels)."""

    model_id: str
    vector: np.ndarray
    box_xyxy: tuple[float, float, float, float]


@dataclass(frozen=True)
class PhotoRecord:
    """One enrolment photo: its bytes, their sha256 (hex), the file suffix, and the node's embeddings of it."""

    sha256: str
    suffix: str
    data: bytes
    embeddings: tuple[EmbeddingRecord, ...] = ()


@dataclass(frozen=True)
class PersonRecord:
    """The photos of ``person`` enrolled on ``node`` (not those it imported)."""

    node: str
    person: str
    photos: tuple[PhotoRecord, ...]

    def encode(self) -> bytes:
        """The payload: UTF-8 JSON, keys and photos sorted, vectors as base64 of little-endian float64."""
        photos = [{"sha256": p.sha256, "suffix": p.suffix, "data": base64.b64encode(p.data).decode(),
                   "embeddings": [{"model_id": e.model_id,
                                   "vector_f64le": base64.b64encode(np.asarray(e.vector, "<f8").tobytes()).decode(),
                                   "box_xyxy": [round(float(v), 1) for v in e.box_xyxy]}
                                  for e in sorted(p.embeddings, key=lambda e: e.model_id)]}
                  for p in sorted(self.photos, key=lambda p: p.sha256)]
        return json.dumps({"v": VERSION, "node": self.node, "person": self.person, "photos": photos},
                          ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, node: str, key: str, payload: bytes, max_bytes: int) -> PersonRecord:
        """The record published on ``base/<node>/people/<key>``, every check passed; else RecordRefused."""
        d = _json(payload, max_bytes)
        person = _header(d, node, key)
        photos = d.get("photos")
        if not isinstance(photos, list) or not 1 <= len(photos) <= MAX_PHOTOS:
            raise RecordRefused(f"'photos': expected a list of 1 to {MAX_PHOTOS}, got {_kind(photos)}")
        out = tuple(_photo(i, p) for i, p in enumerate(photos))
        if len({p.sha256 for p in out}) != len(out):
            raise RecordRefused("the same photo (sha256) is listed twice")
        return cls(node, person, out)


@dataclass(frozen=True)
class Sighting:
    """What ``node``'s presence board says of ``person``: home or not since ``since``, last named at
    ``last_seen`` on its ``camera`` (UTC wall times: nodes compare them with their own clocks)."""

    node: str
    person: str
    home: bool
    camera: str
    since: dt.datetime
    last_seen: dt.datetime

    def encode(self) -> bytes:
        """The payload: UTF-8 JSON with sorted keys, times as UTC ISO 8601 with ``Z``."""
        return json.dumps({"v": VERSION, "node": self.node, "person": self.person, "home": self.home,
                           "camera": self.camera, "since": utc_iso(self.since), "last_seen": utc_iso(self.last_seen)},
                          ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, node: str, key: str, payload: bytes) -> Sighting:
        """The sighting published on ``base/<node>/presence/<key>``, every check passed; else RecordRefused."""
        d = _json(payload, 64 * 1024)
        person = _header(d, node, key)
        home, camera = d.get("home"), d.get("camera")
        if not isinstance(home, bool):
            raise RecordRefused(f"'home': expected true or false, got {_kind(home)}")
        if not isinstance(camera, str) or not _NODE.fullmatch(camera):
            raise RecordRefused(f"'camera': expected a camera name, got {_kind(camera)}")
        return cls(node, person, home, camera, _time(d, "since"), _time(d, "last_seen"))


@dataclass(frozen=True)
class Topics:
    """The household's topics under ``base`` (see the module docstring)."""

    base: str

    def topic(self, node: str, kind: str, key: str = "") -> str:
        """``base/<node>/<kind>/<key>`` (``kind`` one of people, presence; ``key`` a person's slug), or
        ``base/<node>/<kind>`` for status and sync."""
        return f"{self.base}/{node}/{kind}/{key}" if key else f"{self.base}/{node}/{kind}"

    def subscriptions(self, node: str) -> list[str]:
        """What a node subscribes to: everyone's people, sightings and status (its own included), and its sync
        nonce."""
        return [f"{self.base}/+/{PEOPLE}/+", f"{self.base}/+/{PRESENCE}/+", f"{self.base}/+/{STATUS}",
                self.topic(node, SYNC)]

    def parse(self, topic: str) -> tuple[str, str, str] | None:
        """``(node, kind, key)`` of a household topic (``key`` is ``""`` for status and sync), else ``None``."""
        if not topic.startswith(self.base + "/"):
            return None
        parts = topic[len(self.base) + 1:].split("/")
        if not _NODE.fullmatch(parts[0]):
            return None
        if len(parts) == 3 and parts[1] in (PEOPLE, PRESENCE) and _SLUG.fullmatch(parts[2]):
            return parts[0], parts[1], parts[2]
        if len(parts) == 2 and parts[1] in (STATUS, SYNC):
            return parts[0], parts[1], ""
        return None


def _json(payload: bytes, max_bytes: int) -> dict[str, object]:
    if len(payload) > max_bytes:
        raise RecordRefused(f"{len(payload)} bytes; at most {max_bytes} are accepted ([household] max_record_mb)")
    try:
        d = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecordRefused(f"not UTF-8 JSON: {exc}") from None
    if not isinstance(d, dict):
        raise RecordRefused(f"expected a JSON object, got {_kind(d)}")
    if d.get("v") != VERSION:
        raise RecordRefused(f"format version {d.get('v')!r}; this facecam reads version {VERSION}")
    return d


def _header(d: dict[str, object], node: str, key: str) -> str:
    """The record's person, once its node and name agree with the topic it came on."""
    if d.get("node") != node:
        raise RecordRefused(f"'node' is {d.get('node')!r} but the topic is node {node!r}'s")
    person = d.get("person")
    if not isinstance(person, str):
        raise RecordRefused(f"'person': expected a name, got {_kind(person)}")
    try:
        name = validate_name(person)
    except FacecamError as exc:
        raise RecordRefused(f"'person': {exc}") from None
    if name != person or slug(name) != key:
        raise RecordRefused(f"'person' {person!r} does not belong on topic level {key!r}")
    return name


def _photo(i: int, p: object) -> PhotoRecord:
    if not isinstance(p, dict):
        raise RecordRefused(f"photo {i}: expected an object, got {_kind(p)}")
    sha, suffix, data = p.get("sha256"), p.get("suffix"), p.get("data")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise RecordRefused(f"photo {i}: 'sha256': expected 64 lowercase hex digits, got {_kind(sha)}")
    if not isinstance(suffix, str) or not _SUFFIX.fullmatch(suffix):
        raise RecordRefused(f"photo {i}: 'suffix': expected a file suffix like '.jpg', got {_kind(suffix)}")
    raw = _b64(data, f"photo {i}: 'data'")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != sha:
        raise RecordRefused(f"photo {i}: sha256 mismatch: the record says {sha[:16]}…, its bytes hash to "
                            f"{actual[:16]}…")
    embeddings = p.get("embeddings", [])
    if not isinstance(embeddings, list) or len(embeddings) > 16:
        raise RecordRefused(f"photo {i}: 'embeddings': expected a list of at most 16, got {_kind(embeddings)}")
    out = tuple(_embedding(f"photo {i}: embedding {k}", e) for k, e in enumerate(embeddings))
    if len({e.model_id for e in out}) != len(out):
        raise RecordRefused(f"photo {i}: two embeddings from one model")
    return PhotoRecord(sha, suffix, raw, out)


def _embedding(where: str, e: object) -> EmbeddingRecord:
    if not isinstance(e, dict):
        raise RecordRefused(f"{where}: expected an object, got {_kind(e)}")
    model, box = e.get("model_id"), e.get("box_xyxy")
    if not isinstance(model, str) or not 1 <= len(model) <= 100 or not model.isprintable():
        raise RecordRefused(f"{where}: 'model_id': expected a model id, got {_kind(model)}")
    raw = _b64(e.get("vector_f64le"), f"{where}: 'vector_f64le'")
    if not raw or len(raw) % 8 or len(raw) // 8 > MAX_DIM:
        raise RecordRefused(f"{where}: 'vector_f64le': expected 1 to {MAX_DIM} float64, got {len(raw)} bytes")
    vector = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    if not np.isfinite(vector).all():
        raise RecordRefused(f"{where}: the vector holds NaN or infinity")
    if (not isinstance(box, list) or len(box) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in box)):
        raise RecordRefused(f"{where}: 'box_xyxy': expected 4 numbers, got {_kind(box)}")
    x1, y1, x2, y2 = (float(v) for v in box)
    return EmbeddingRecord(model, vector, (x1, y1, x2, y2))


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise RecordRefused(f"{where}: expected base64 text, got {_kind(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RecordRefused(f"{where}: not valid base64") from None


def _time(d: dict[str, object], key: str) -> dt.datetime:
    value = d.get(key)
    try:
        t = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise RecordRefused(f"{key!r}: expected a UTC time like 2026-01-31T12:00:00Z, got {_kind(value)}")
    return t.astimezone(dt.UTC)


def _kind(value: object) -> str:
    """A short description of a bad value for messages (never the value itself when it is large)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} of {len(text)} characters"
