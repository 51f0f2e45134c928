"""The visit book's effects, carried out in order on a thread of their own.

JPEG encoding, ``fsync`` of pictures and SQLite commits take milliseconds
to tens of milliseconds; they run here, never on the inference thread. The
effects of one call stay in order, and alerts come after the event rows and
pictures they refer to: an alert's ``snapshot`` is filled in here (with
``attach_snapshots``) once the picture is on disk, so a sink never reads a
path that is not there yet. The queue is bounded; when it is full the
inference thread waits (nothing is dropped). A failing effect is logged and
counted, and the next one goes on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence

from camera.events.presence import PersonState
from camera.events.store import EventStore, Presence
from camera.events.visits import Effect, OpenEvent, SavePresence, UpdateEvent
from camera.fsutil import describe_storage_error
from camera.types import Alert

log = logging.getLogger(__name__)

#: seconds of wall time between two retention passes over the event store
PRUNE_EVERY_S = 600.0
#: effects waiting at most; a full queue makes the inference thread wait
MAX_QUEUED = 256

_STOP = object()


class EventWriter:
    """Owns the event store (opened for writing) for the run; ``deliver`` hands alerts to the sinks."""

    def __init__(self, store: EventStore, deliver: Callable[[Alert], None], attach_snapshots: bool) -> None:
        self.store = store
        self.deliver = deliver
        self.attach_snapshots = attach_snapshots
        #: effects that raised (logged), for ``facecam status``
        self.failures = 0
        self._problem: tuple[str, float] | None = None  # the last failure and when (UNIX s)
        self._q: queue.Queue[object] = queue.Queue(maxsize=MAX_QUEUED)
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._pruned = 0.0

    def start(self) -> None:
        self._prune(dt.datetime.now(dt.UTC))
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._q.qsize()

    @property
    def problem(self) -> str | None:
        """Why the last effects failed (e.g. the disk is full), while that lasts; else ``None``."""
        return None if self._problem is None else f"events: {self.failures} not recorded: {self._problem[0]}"

    def submit(self, effects: Sequence[Effect]) -> None:
        """Queue effects in order (waits while the queue is full)."""
        for e in effects:
            self._q.put(e)

    def close(self, timeout_s: float = 30.0) -> None:
        """Carry out what is queued (waiting up to ``timeout_s`` seconds), then close the store."""
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("event writer: %d effects still queued after %.0f s; closing anyway", self.queued,
                          timeout_s)
                return  # the thread still uses the store; it is a daemon and ends with the process
        self.store.close()

    def _run(self) -> None:
        while True:
            try:
                item = self._q.get(timeout=PRUNE_EVERY_S / 10)
            except queue.Empty:  # quiet: still apply retention now and then
                item = None
            if item is _STOP:
                return
            try:
                if item is not None:
                    self._apply(item)  # type: ignore[arg-type]
                now = dt.datetime.now(dt.UTC)
                if now.timestamp() - self._pruned > PRUNE_EVERY_S:
                    self._prune(now)
            except Exception as exc:  # one bad effect must not stop the others
                self.failures += 1
                what = describe_storage_error(self.store.root, exc)
                if self._problem is None or self._problem[0] != what:
                    log.error("event writer: %s failed: %s", type(item).__name__, what)
                self._problem = (what, time.time())
            else:
                if item is not None and self._problem is not None and time.time() - self._problem[1] > 1:
                    log.warning("event writer: recording events again (%d effects failed)", self.failures)
                    self._problem = None

    def _apply(self, e: Effect) -> None:
        s = self.store
        if isinstance(e, OpenEvent):
            s.add(e.camera, e.track, e.person, e.start, e.end, e.start_s, e.end_s, e.distance, e.quality, e.rgb,
                  e.box_xyxy, e.vectors, e.model_id, event_id=e.event_id, votes=e.votes, margin=e.margin,
                  nearest=e.nearest, faces=e.faces)
        elif isinstance(e, UpdateEvent):
            s.update(e.event_id, e.end, e.end_s, person=e.person, distance=e.distance, vectors=e.vectors,
                     votes=e.votes, margin=e.margin, faces=e.faces)
        elif isinstance(e, SavePresence):
            s.set_presence(_presence(e.state))
        else:
            self.deliver(self._with_snapshot(e))

    def _with_snapshot(self, alert: Alert) -> Alert:
        """The alert with its event's snapshot path (when asked for); without it if the store cannot say."""
        event_id = alert.context.event_id
        if not self.attach_snapshots or event_id is None:
            return alert
        try:
            return dataclasses.replace(alert, snapshot=self.store.snapshot_of(event_id))
        except sqlite3.Error as exc:  # the alert still goes out, even when the store fails
            log.warning("event writer: alert %s sent without its snapshot: %s", alert.id, exc)
            return alert

    def _prune(self, now: dt.datetime) -> None:
        self._pruned = now.timestamp()
        n = self.store.prune(now)
        if n:
            log.info("events: %d old events removed (retention)", n)


def _presence(s: PersonState) -> Presence:
    return Presence(s.person, s.home, s.since, s.last_seen, s.camera)
