"""The household sync: this node's side of the conversation on the broker (docs/scale-out.md).

One paho client and one worker thread. paho's network thread only queues
what arrives; the worker, in arrival order:

- imports other nodes' people: each record is checked whole
  (:meth:`~camera.household.records.PersonRecord.decode`: sha256 of every
  photo, names, shapes) and refused whole with a warning on any failure;
  then :class:`~camera.household.people.Importer` puts its photos into the
  gallery with that node as their ``origin`` (embedded here unless the
  record's embedding is of this node's model). An empty retained message
  withdraws that node's photos of the person, and so does a record missing
  at a sync from a node the broker knows (withdrawn while this one was away);
- keeps other nodes' sightings (:class:`~camera.household.presence.RemoteSightings`,
  and ``household.sqlite3`` for ``facecam events``);
- and every second (``TICK_S``): republishes this node's own people when the
  gallery changed (any process may change it: ``facecam enroll``, the web
  app), never the imported ones, so nothing echoes between nodes; publishes
  this node's changed sightings; lets the merged presence tell its watchers
  (the MQTT sink) what changed; and hands the running pipeline a fresh
  gallery snapshot (it swaps it in between tracks).

After each (re)connect the node subscribes, then sends itself a nonce on
``base/<node>/sync``: when the nonce comes back, every retained message the
broker queued before it has been handled, so the node knows what the broker
holds for it and which of its records to publish or withdraw. The inference
thread never waits for any of this: it reads memory only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from camera.alerts.sinks.mqtt import slug
from camera.engine import Engine
from camera.events.presence import PresenceBoard
from camera.gallery.enroll import rebuild
from camera.gallery.store import Gallery
from camera.household.config import HouseholdConfig
from camera.household.people import Importer, own_records
from camera.household.presence import RemoteSightings
from camera.household.records import (
    PEOPLE,
    PRESENCE,
    STATUS,
    SYNC,
    PersonRecord,
    RecordRefused,
    Sighting,
    Topics,
)
from camera.household.store import SightingStore
from camera.matching import GalleryIndex

log = logging.getLogger(__name__)

#: seconds between two rounds of publishing, gallery checks and presence checks
TICK_S = 1.0
#: a sighting whose only change is a later last_seen is republished at most this often (seconds); at most a
#: quarter of away_after_s, so the other nodes never let a person go while this node still sees them
SIGHTING_REFRESH_S = 30.0

_CONNECTED = "\x00connected"
_STOP = ("\x00stop", b"")


class GalleryConsumer(Protocol):
    """What takes a fresh gallery snapshot while running (the pipeline: :meth:`~camera.pipeline.Pipeline.offer_gallery`)."""

    def offer_gallery(self, index: GalleryIndex, negatives: GalleryIndex) -> None: ...


@dataclass
class SyncStats:
    """What the sync did: photos imported and removed, records refused, own records published or withdrawn,
    sightings received, and errors logged."""

    imported: int = 0
    removed: int = 0
    refused: int = 0
    published: int = 0
    sightings: int = 0
    errors: int = 0


class HouseholdSync:
    """Node ``cfg.node`` of the household; ``engine()`` gives the enrolment engine (built on first use) and
    ``away_after_s`` is ``[presence] away_after_s``. The constructor does no I/O; :meth:`start` connects."""

    def __init__(self, cfg: HouseholdConfig, root: Path, engine: Callable[[], Engine], away_after_s: float) -> None:
        self.cfg = cfg
        self.node = cfg.node
        self.topics = Topics(cfg.base_topic)
        self.remote = RemoteSightings(cfg.node, away_after_s)
        self.stats = SyncStats()
        self._root = Path(root)
        self._engine = engine
        self._max_bytes = int(cfg.max_record_mb * 1_000_000)
        self._refresh_s = min(SIGHTING_REFRESH_S, away_after_s / 4)
        self._q: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._synced = threading.Event()  # the first sync after start is done
        self._in_sync = False  # this connection's sync is done (worker thread only)
        self._nonce = ""
        self._own: dict[str, str] = {}  # slug -> sha256 of this node's record the broker holds
        self._held: set[tuple[str, str]] = set()  # (node, slug) of other nodes' records the broker holds
        self._nodes: set[str] = set()  # nodes whose status the broker holds (it has not lost their messages)
        self._sent: dict[str, tuple[tuple[bool, dt.datetime, str], dt.datetime, float]] = {}
        self._version: int | None = None
        self._gallery_changed = True
        self._own_dirty = True
        self._board: PresenceBoard | None = None
        self._pipeline: GalleryConsumer | None = None
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._gallery: Gallery | None = None
        self._importer: Importer | None = None
        self._store: SightingStore | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> bool:
        """Connect and start the worker; wait up to ``startup_wait_s`` for the first sync. Returns whether it
        was reached (if not, the node goes on with the people it has and the sync continues)."""
        password = self.cfg.read_password("household")
        self._gallery = Gallery(self._root)
        self._store = SightingStore(self._root)
        for s in self._store.sightings():  # what the last run knew, until the broker's retained copies arrive
            self.remote.update(s)
        c = self.cfg.new_client(f"facecam-{self.node}-household-{secrets.token_hex(3)}", password)
        c.will_set(self.topics.topic(self.node, STATUS), "offline", qos=1, retain=True)
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        c.on_subscribe, c.on_message = self._on_subscribe, self._on_message
        self._client = c
        self._thread = threading.Thread(target=self._run, name="household-sync", daemon=True)
        self._thread.start()
        c.connect_async(self.cfg.host, self.cfg.port, keepalive=30)
        c.loop_start()
        if self._synced.wait(self.cfg.startup_wait_s):
            return True
        log.warning("household: node %s not in sync with the broker at %s:%d after %g s ([household] "
                    "startup_wait_s); going on with the people known here, the sync continues", self.node,
                    self.cfg.host, self.cfg.port, self.cfg.startup_wait_s)
        return False

    @property
    def synced(self) -> bool:
        """Whether the first sync with the broker was reached."""
        return self._synced.is_set()

    def attach(self, board: PresenceBoard, pipeline: GalleryConsumer | None) -> None:
        """Publish ``board``'s sightings from now on, and hand ``pipeline`` each changed gallery."""
        self._board, self._pipeline = board, pipeline

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker, publish the last sightings and ``offline``, wait up to ``timeout_s`` seconds for
        the broker to acknowledge what is queued, disconnect."""
        self._stopping = True
        if self._thread is not None:
            self._q.put(_STOP)
            self._thread.join(timeout_s)
        c = self._client
        if c is not None:
            if c.is_connected():
                self._publish_sightings(final=True)
                self._publish(self.topics.topic(self.node, STATUS), b"offline")
            deadline = time.monotonic() + timeout_s
            for info in self._pending:
                try:
                    info.wait_for_publish(max(0.0, deadline - time.monotonic()))
                except (RuntimeError, ValueError) as exc:
                    log.debug("household: a publish was not confirmed: %s", exc)
            c.disconnect()
            c.loop_stop()
        for closable in (self._gallery, self._store):
            if closable is not None:
                closable.close()

    # -- the worker --------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic()
        while True:
            try:
                item: tuple[str, bytes] | None = self._q.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if item is not None:
                    self._handle(*item)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + TICK_S
                    self._tick()
            except Exception as exc:  # log, count, go on with the next message
                self.stats.errors += 1
                log.exception("household: %s", exc)

    def _handle(self, topic: str, payload: bytes) -> None:
        if topic == _CONNECTED:  # the broker may have lost everything: learn again what it holds
            self._own.clear()
            self._held.clear()
            self._nodes.clear()
            self._sent.clear()
            self._in_sync = False
            return
        parsed = self.topics.parse(topic)
        if parsed is None:
            return
        node, kind, key = parsed
        if kind == SYNC:
            if node == self.node and payload.decode(errors="replace") == self._nonce:
                self._in_sync = True
                removed = self._importer_().purge(self._nodes - {self.node}, self._held)
                self.stats.removed += removed
                self._gallery_changed |= removed > 0
                self._reconcile_own()
                if not self._synced.is_set():
                    log.info("household: node %s in sync (%d photos imported, %d sightings)", self.node,
                             self.stats.imported, self.stats.sightings)
                self._synced.set()
        elif kind == PEOPLE and node == self.node:
            if payload:
                self._own[key] = _digest(payload)
            else:
                self._own.pop(key, None)
        elif kind == PEOPLE:
            if payload:
                self._held.add((node, key))
            else:
                self._held.discard((node, key))
            self._import(topic, node, key, payload)
        elif kind == STATUS and payload:
            self._nodes.add(node)
        elif kind == PRESENCE and node != self.node:
            self._sighting(topic, node, key, payload)

    def _tick(self) -> None:
        g = self._gallery_()
        version = g.data_version()
        if version != self._version:  # another process changed the gallery (enrolment, removal, rename)
            self._version = version
            self._gallery_changed = self._own_dirty = True
        if self._gallery_changed and self._pipeline is not None:
            self._gallery_changed = False
            self._offer(self._pipeline)
        if self._own_dirty and self._in_sync:
            self._reconcile_own()
        self._publish_sightings()
        self.remote.notify()
        self._pending = [i for i in self._pending if not i.is_published()]

    # -- other nodes' people -----------------------------------------------

    def _import(self, topic: str, node: str, key: str, payload: bytes) -> None:
        importer = self._importer_()
        if not payload:
            removed = importer.withdraw(node, key)
        else:
            try:
                record = PersonRecord.decode(node, key, payload, self._max_bytes)
            except RecordRefused as exc:
                self.stats.refused += 1
                log.warning("household: refused %s from node %s: %s; nothing imported", topic, node, exc)
                return
            added, removed = importer.apply(record)
            self.stats.imported += added
            self._gallery_changed |= added > 0
        self.stats.removed += removed
        self._gallery_changed |= removed > 0

    def _sighting(self, topic: str, node: str, key: str, payload: bytes) -> None:
        if not payload:
            self.remote.forget(node, key)
            self.remote.notify()
            return
        try:
            s = Sighting.decode(node, key, payload)
        except RecordRefused as exc:
            self.stats.refused += 1
            log.warning("household: refused %s from node %s: %s", topic, node, exc)
            return
        if self.remote.update(s):
            self.stats.sightings += 1
            if self._store is not None:
                self._store.save(s)
            self.remote.notify()

    # -- this node's people, sightings and gallery ----------------------------

    def _reconcile_own(self) -> None:
        """Publish this node's people whose record differs from what the broker holds; withdraw the others."""
        self._own_dirty = False
        desired: dict[str, bytes] = {}
        too_big: set[str] = set()
        if self.cfg.share_people:
            desired, too_big = own_records(self._gallery_(), self.node, self._engine().embedder.model_id,
                                           self._max_bytes)
        for key, payload in desired.items():
            digest = _digest(payload)
            if self._own.get(key) != digest:
                self._own[key] = digest
                self._publish(self.topics.topic(self.node, PEOPLE, key), payload)
                self.stats.published += 1
                log.info("household: shared %s (%d bytes)", key, len(payload))
        for key in [k for k in self._own if k not in desired and k not in too_big]:
            del self._own[key]
            self._publish(self.topics.topic(self.node, PEOPLE, key), b"")
            self.stats.published += 1
            log.info("household: withdrew %s", key)

    def _publish_sightings(self, final: bool = False) -> None:
        """Publish what this node's board says of each person, when it changed, or when last seen moved on
        by the refresh interval (``final``: at all, the other nodes count from the very last sighting)."""
        board, c = self._board, self._client
        if board is None or c is None or not c.is_connected():
            return
        now = time.monotonic()
        for st in board.states():
            state = (st.home, st.since, st.camera)
            last = self._sent.get(st.person)
            if last is None or last[0] != state or (
                    st.last_seen > last[1] and (final or now - last[2] >= self._refresh_s)):
                s = Sighting(self.node, st.person, st.home, st.camera, st.since, st.last_seen)
                self._publish(self.topics.topic(self.node, PRESENCE, slug(st.person)), s.encode())
                self._sent[st.person] = (state, st.last_seen, now)

    def _offer(self, pipeline: GalleryConsumer) -> None:
        """Hand the pipeline the gallery as it is now (photos without this model's embedding embedded first)."""
        g, engine = self._gallery_(), self._engine()
        made = sum(o.ok for o in rebuild(g, engine))
        if made:
            log.info("household: embedded %d stored photos with %s", made, engine.embedder.model_id)
        model = engine.embedder.model_id
        pipeline.offer_gallery(g.index(model), g.negatives(model))

    def _publish(self, topic: str, payload: bytes) -> None:
        """A retained QoS 1 publish; paho queues it while disconnected."""
        if self._client is not None:
            self._pending.append(self._client.publish(topic, payload, qos=1, retain=True))

    def _gallery_(self) -> Gallery:
        if self._gallery is None:
            raise RuntimeError("HouseholdSync.start() was not called")
        return self._gallery

    def _importer_(self) -> Importer:
        if self._importer is None:
            self._importer = Importer(self._gallery_(), self._engine)
        return self._importer

    # -- paho callbacks (network thread: only queue, never block) --------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason_code: Any,
                    properties: object) -> None:
        if reason_code.is_failure:
            log.warning("household: broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port,
                        reason_code)
            return
        log.info("household: node %s connected to %s:%d", self.node, self.cfg.host, self.cfg.port)
        self._q.put((_CONNECTED, b""))
        client.publish(self.topics.topic(self.node, STATUS), "online", qos=1, retain=True)
        client.subscribe([(t, 1) for t in self.topics.subscriptions(self.node)])

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reason_codes: Any,
                      properties: object) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.warning("household: the broker refused a subscription (%s); check its ACL for %s/#",
                        ", ".join(str(rc) for rc in reason_codes), self.cfg.base_topic)
        self._nonce = secrets.token_hex(8)
        client.publish(self.topics.topic(self.node, SYNC), self._nonce, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._q.put((msg.topic, bytes(msg.payload)))

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason_code: Any,
                       properties: object) -> None:
        if not self._stopping:
            log.warning("household: disconnected from %s:%d (%s); reconnecting", self.cfg.host, self.cfg.port,
                        reason_code)


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()

