"""Durable outbox: every alert is stored in SQLite before any sink sees it.

:class:`Outbox` is itself an :class:`~camera.alerts.base.AlertSink` that wraps
the real sinks. ``send`` writes the alert and one delivery row per sink in one
transaction (``synchronous=FULL``, WAL) and returns; one worker thread per
sink then delivers that sink's rows in alert order, retrying failures with
bounded, jittered exponential backoff. Alerts not yet delivered survive a
crash or ``kill -9`` and go out when a new :class:`Outbox` opens the same
file. Alert ids are unique: sending the same id again is ignored.

Delivery is at-least-once per sink: an alert is marked delivered only after
the sink's ``send`` returned, so a crash between the two repeats it once
(consumers can deduplicate on the alert ``id``). Delivered alerts older than
``retention_days`` are pruned hourly. Times in the database are UNIX seconds
(UTC wall clock).

When an alert cannot be stored (the disk is full), it is held in memory
(:mod:`camera.alerts.spill`) and still delivered to every sink that can take
it; :attr:`Outbox.problem` says so (``facecam status``), and the held alerts
are stored as soon as the disk takes them again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from camera.alerts.base import AlertSink
from camera.alerts.rules import Route
from camera.alerts.spill import Held, Spill
from camera.errors import AlertDeliveryError, FacecamError
from camera.fsutil import connect_readonly, private_file
from camera.redact import redact_text
from camera.types import Alert, AlertContext, AlertKind

log = logging.getLogger(__name__)

#: seconds between tries to store alerts held in memory
FLUSH_EVERY_S = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT NOT NULL UNIQUE,
    payload  TEXT NOT NULL,
    created  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    sink       TEXT NOT NULL,
    alert_seq  INTEGER NOT NULL REFERENCES alerts(seq) ON DELETE CASCADE,
    snapshot   INTEGER NOT NULL DEFAULT 1,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_try   REAL NOT NULL,
    delivered  REAL,
    gave_up    REAL,
    last_error TEXT,
    PRIMARY KEY (sink, alert_seq)
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (sink, delivered, gave_up, alert_seq);
CREATE TABLE IF NOT EXISTS sink_state (
    sink            TEXT PRIMARY KEY,
    last_delivery   REAL,
    last_error      TEXT,
    last_error_time REAL
);
PRAGMA user_version = 1;
"""


class OutboxLocked(FacecamError):
    """Another facecam process already has this outbox open."""


@dataclasses.dataclass(frozen=True)
class SinkStats:
    """Delivery state of one sink, for ``facecam status``.

    ``queued`` counts alerts not yet delivered, ``delivered`` those delivered
    and still kept, ``gave_up`` those abandoned after ``max_attempts``;
    ``oldest_queued`` is when the oldest queued alert was stored. Times are
    UTC, ``None`` when never.
    """

    sink: str
    queued: int
    delivered: int
    gave_up: int
    oldest_queued: dt.datetime | None
    last_delivery: dt.datetime | None
    last_error: str | None
    last_error_time: dt.datetime | None


class Outbox:
    """Store-then-deliver wrapper around ``sinks`` (see the module docstring).

    ``path`` is the SQLite file (its folder is created); a ``.lock`` file next
    to it keeps a second process out (:class:`OutboxLocked`). Backoff after
    the n-th failed attempt is ``min(max_delay_s, base_delay_s * 2**(n-1))``
    times a random factor in ``[0.5, 1]`` (seconds). ``max_attempts`` ``None``
    retries forever (alerts are never dropped); a number gives up on an alert
    for that sink after so many attempts, logs an error and moves on.
    ``close_timeout_s`` bounds ``close``: how long to wait in all for workers
    that are inside a sink's ``send``. ``clock`` gives UNIX seconds (tests).
    """

    name = "outbox"

    def __init__(self, path: str | Path, sinks: Sequence[AlertSink], *,
                 retention_days: float = 7.0, base_delay_s: float = 1.0, max_delay_s: float = 300.0,
                 max_attempts: int | None = None, close_timeout_s: float = 10.0,
                 prune_interval_s: float = 3600.0, clock: Callable[[], float] = time.time) -> None:
        names = [s.name for s in sinks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Outbox sinks: expected unique names, got duplicates {dupes}")
        if not 0 < base_delay_s <= max_delay_s:
            raise ValueError(f"Outbox: expected 0 < base_delay_s <= max_delay_s, got {base_delay_s}, {max_delay_s}")
        self.path = Path(path)
        private_file(self.path)  # the alerts name people: owner only (0600)
        self._lockfile = open(self.path.with_name(self.path.name + ".lock"), "a+b")  # noqa: SIM115
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise OutboxLocked(f"outbox {self.path} is in use by another facecam process") from None
        self._sinks = {s.name: s for s in sinks}
        self._retention_s = retention_days * 86400.0
        self._base, self._max = base_delay_s, max_delay_s
        self._max_attempts = max_attempts
        self._close_timeout_s = close_timeout_s
        self._clock = clock
        self._db_lock = threading.Lock()
        db = None
        try:
            db = self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            # a damaged file fails here, at start-up, before anything is written to it (not later, in a worker)
            damage = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if damage != "ok":
                raise sqlite3.DatabaseError(f"the file is damaged: {damage}")
            self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            self._db.executescript(_SCHEMA)
            self._recover()
        except sqlite3.Error as e:
            if db is not None:
                db.close()
            self._lockfile.close()
            raise AlertDeliveryError(f"outbox {self.path} cannot be opened: {e}") from e
        self._closed = False
        self._store_error = ""
        self._spill = Spill()
        self._kick = threading.Event()
        #: (sink, seq) delivered but not yet marked so (a full disk): attempts and delivery time
        self._unrecorded: dict[tuple[str, int], tuple[int, float]] = {}
        #: (sink, seq) whose next attempt is not before this time (UNIX s), should recording it have failed
        self._retry_at: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._wake = {n: threading.Event() for n in self._sinks}
        self._threads = [threading.Thread(target=self._worker, args=(n,), name=f"outbox-{n}", daemon=True)
                         for n in self._sinks]
        self._threads.append(threading.Thread(target=self._pruner, args=(prune_interval_s,),
                                              name="outbox-prune", daemon=True))
        for t in self._threads:
            t.start()

    @property
    def sink_names(self) -> tuple[str, ...]:
        """Names of the wrapped sinks, in the order given."""
        return tuple(self._sinks)

    @property
    def problem(self) -> str | None:
        """Why alerts are not durable now (held in memory), or ``None``."""
        n = len(self._spill) + len(self._unrecorded)
        return (f"outbox: {n} alerts or deliveries held in memory: {self.path} cannot store them "
                f"({self._store_error})" if n else None)

    def send(self, alert: Alert, routes: Sequence[Route] | None = None) -> None:
        """Store ``alert`` for delivery along ``routes`` (``None``: every sink, with snapshot).

        Returns once the alert is on disk. A second alert with an id already
        stored is ignored. Raises AlertDeliveryError if it cannot be stored.
        """
        if routes is None:
            routes = [Route(n, True) for n in self._sinks]
        unknown = [r.sink for r in routes if r.sink not in self._sinks]
        if unknown:
            raise ValueError(f"Outbox.send: unknown sinks {unknown}; valid: {list(self._sinks)}")
        now = self._clock()
        if self._closed:
            raise AlertDeliveryError(f"outbox {self.path} is closed; alert {alert.id} not stored")
        held = Held(alert, tuple(routes), now)
        stored = self._flush() and self._store(held)
        if stored is None:
            log.info("alert %s already in the outbox; duplicate ignored", alert.id)
            return
        if not stored:
            self._spill.add(held)
        for r in routes:
            self._wake[r.sink].set()

    def _store(self, h: Held) -> bool | None:
        """Write a held alert (with the deliveries already made); ``False`` when the disk refuses,
        ``None`` for an id already stored."""
        try:
            with self._db_lock:
                if self._closed:
                    return False
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    cur = self._db.execute("INSERT OR IGNORE INTO alerts (id, payload, created) VALUES (?, ?, ?)",
                                           (h.alert.id, encode_alert(h.alert), h.created))
                    if cur.rowcount:
                        seq = cur.lastrowid
                        self._db.executemany(
                            "INSERT INTO deliveries (sink, alert_seq, snapshot, next_try, delivered) "
                            "VALUES (?, ?, ?, ?, ?)",
                            [(r.sink, seq, int(r.snapshot), h.created, h.done.get(r.sink)) for r in h.routes])
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # a failed COMMIT may have rolled back already
                        self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as e:
            self._kick.set()  # the pruner thread tries again every few seconds
            if not self._store_error:
                log.error("outbox: cannot store alerts in %s (%s); delivering them from memory until it can",
                          self.path, e)
            self._store_error = str(e)
            return False
        return True if cur.rowcount else None

    def _flush(self) -> bool:
        """Record the deliveries not yet recorded, then store the held alerts, oldest first; ``True`` when
        nothing is left in memory only."""
        for (sink_name, seq), (attempts, when) in list(self._unrecorded.items()):
            if not self._record_delivered(sink_name, seq, attempts, when):
                return False
        while (h := self._spill.first()) is not None:
            if self._store(h) is False:
                return False
            self._spill.remove(h)
            if not len(self._spill):
                log.warning("outbox: %s stores alerts again; every held alert is stored", self.path)
        self._store_error = ""
        return True

    def stats(self) -> list[SinkStats]:
        """Queue length (alerts held in memory included), last delivery and last error of every wrapped sink."""
        with self._db_lock:
            stats = _read_stats(self._db, list(self._sinks))
        return [dataclasses.replace(s, queued=s.queued + self._spill.pending_for(s.sink)) for s in stats]

    def prune(self, now: float | None = None) -> int:
        """Delete alerts stored more than ``retention_days`` before ``now`` (UNIX s) that no
        wrapped sink still has to deliver; returns how many were deleted.

        Deduplication by id covers the retention window: an id pruned and
        sent again is a new alert.
        """
        cutoff = (self._clock() if now is None else now) - self._retention_s
        marks = ",".join("?" * len(self._sinks))
        with self._db_lock:
            cur = self._db.execute(
                "DELETE FROM alerts WHERE created < ? AND NOT EXISTS (SELECT 1 FROM deliveries d "
                "WHERE d.alert_seq = alerts.seq AND d.delivered IS NULL AND d.gave_up IS NULL "
                f"AND d.sink IN ({marks}))", (cutoff, *self._sinks))
        if cur.rowcount:
            log.info("outbox: pruned %d delivered alerts older than %.1f days", cur.rowcount,
                     self._retention_s / 86400)
        return cur.rowcount

    def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` seconds for every queued alert to be delivered (or given up).

        Returns True when nothing is left queued. Used before ``close`` at the
        end of a finite run, so a video file's alerts are all out when the
        command exits; a sink that stays down keeps its alerts for the next start.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            if sum(st.queued for st in self.stats()) == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def close(self, drain_s: float = 0.0) -> None:
        """Stop the workers (waiting at most ``close_timeout_s`` in all), close the sinks and the file.

        With ``drain_s`` > 0, first wait up to that many seconds for the queues
        to empty (:meth:`drain`). Undelivered alerts stay in the file for the next start.
        """
        if self._stop.is_set():
            return
        if drain_s > 0 and not self.drain(drain_s):
            log.warning("outbox: alerts still queued after %.1f s; they go out at the next start", drain_s)
        self._stop.set()
        self._kick.set()
        for ev in self._wake.values():
            ev.set()
        deadline = time.monotonic() + self._close_timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("outbox: %s still busy after %.1f s; leaving it", t.name, self._close_timeout_s)
        for sink in self._sinks.values():
            try:
                sink.close()
            except Exception:
                log.exception("outbox: closing sink %s failed", sink.name)
        with self._db_lock:
            self._closed = True
            self._db.close()
        self._lockfile.close()

    # -- workers ---------------------------------------------------------

    def _worker(self, sink_name: str) -> None:
        """Deliver ``sink_name``'s rows oldest first until stopped; errors are logged, never fatal."""
        sink, wake = self._sinks[sink_name], self._wake[sink_name]
        while not self._stop.is_set():
            wake.clear()
            try:
                head = self._head(sink_name)
            except sqlite3.Error:
                log.exception("outbox: reading the queue of %s failed", sink_name)
                self._stop.wait(self._max)
                continue
            if head is None:
                held = self._spill.head_for(sink_name, self._clock())
                if held is not None:
                    self._deliver_held(sink, held)
                else:
                    wake.wait(1.0 if len(self._spill) else 60.0)
                continue
            seq, payload, snapshot, attempts, next_try = head
            next_try = max(next_try, self._retry_at.get((sink_name, seq), 0.0))
            delay = next_try - self._clock()
            if 0 < delay <= self._max:  # a longer wait means the wall clock jumped back: go now
                wake.wait(delay)
                continue
            self._deliver(sink, seq, payload, bool(snapshot), attempts)

    def _head(self, sink_name: str) -> tuple[int, str, int, int, float] | None:
        """The oldest row ``sink_name`` still has to deliver (past the ones delivered but not yet recorded)."""
        after = max((seq for (s, seq) in list(self._unrecorded) if s == sink_name), default=0)
        with self._db_lock:
            if self._closed:
                return None
            return self._db.execute(
                "SELECT d.alert_seq, a.payload, d.snapshot, d.attempts, d.next_try FROM deliveries d "
                "JOIN alerts a ON a.seq = d.alert_seq WHERE d.sink = ? AND d.delivered IS NULL "
                "AND d.gave_up IS NULL AND d.alert_seq > ? ORDER BY d.alert_seq LIMIT 1", (sink_name, after)).fetchone()

    def _deliver(self, sink: AlertSink, seq: int, payload: str, snapshot: bool, attempts: int) -> None:
        try:
            alert = decode_alert(payload)
            if not snapshot:
                alert = dataclasses.replace(alert, snapshot=None)
            sink.send(alert)
        except Exception as e:  # any sink failure is retried; the worker must not die
            attempts += 1
            err = redact_text(f"{type(e).__name__}: {e}")  # stored and shown by `facecam status`: no secrets
            give_up = self._max_attempts is not None and attempts >= self._max_attempts
            delay = min(self._max, self._base * 2 ** min(attempts - 1, 30)) * random.uniform(0.5, 1.0)
            if give_up:
                log.error("outbox: giving up on alert #%d for %s after %d attempts: %s", seq, sink.name,
                          attempts, err)
            else:
                log.warning("outbox: delivery of alert #%d to %s failed (attempt %d, retry in %.1f s): %s",
                            seq, sink.name, attempts, delay, err)
            now = self._clock()
            stored = self._write("UPDATE deliveries SET attempts = ?, next_try = ?, last_error = ?, gave_up = ? "
                                 "WHERE sink = ? AND alert_seq = ?",
                                 (attempts, now + delay, err, now if give_up else None, sink.name, seq),
                                 "INSERT INTO sink_state (sink, last_error, last_error_time) VALUES (?, ?, ?) "
                                 "ON CONFLICT(sink) DO UPDATE SET last_error = excluded.last_error, "
                                 "last_error_time = excluded.last_error_time", (sink.name, err, now))
            if stored:  # the row holds the next try (or that it was given up): nothing to keep in memory
                self._retry_at.pop((sink.name, seq), None)
            else:  # the disk refused it: keep it in memory, so the row is not retried at once
                self._retry_at[(sink.name, seq)] = now + delay
            return
        self._retry_at.pop((sink.name, seq), None)
        self._record_delivered(sink.name, seq, attempts + 1, self._clock())

    def _record_delivered(self, sink_name: str, seq: int, attempts: int, when: float) -> bool:
        """Mark a row delivered; when the disk refuses, remember it in memory (never delivered twice by this
        process) and try again from the pruner thread."""
        ok = self._write("UPDATE deliveries SET attempts = ?, delivered = ?, last_error = NULL "
                         "WHERE sink = ? AND alert_seq = ?", (attempts, when, sink_name, seq),
                         "INSERT INTO sink_state (sink, last_delivery) VALUES (?, ?) ON CONFLICT(sink) "
                         "DO UPDATE SET last_delivery = excluded.last_delivery", (sink_name, when))
        if ok:
            self._unrecorded.pop((sink_name, seq), None)
        else:
            self._unrecorded[(sink_name, seq)] = (attempts, when)
            self._kick.set()
        return ok

    def _deliver_held(self, sink: AlertSink, h: Held) -> None:
        """Deliver an alert held in memory; failures back off as stored ones do."""
        route = next(r for r in h.routes if r.sink == sink.name)
        try:
            sink.send(h.alert if route.snapshot else dataclasses.replace(h.alert, snapshot=None))
        except Exception as e:  # the worker must not die
            n = h.attempts[sink.name] = h.attempts.get(sink.name, 0) + 1
            delay = min(self._max, self._base * 2 ** min(n - 1, 30)) * random.uniform(0.5, 1.0)
            h.next_try[sink.name] = self._clock() + delay
            log.warning("outbox: delivery of held alert %s to %s failed (attempt %d, retry in %.1f s): %s",
                        h.alert.id, sink.name, n, delay, redact_text(str(e)))
            return
        h.done[sink.name] = self._clock()

    def _write(self, sql1: str, args1: tuple, sql2: str, args2: tuple) -> bool:
        """Run two statements in one transaction (a no-op after close); ``False`` if the disk refused."""
        with self._db_lock:
            if self._closed:
                return True
            try:
                self._db.execute("BEGIN")
                self._db.execute(sql1, args1)
                self._db.execute(sql2, args2)
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if not self._store_error:
                    log.error("outbox: recording a delivery result failed: %s", e)
                self._store_error = str(e)
                return False
            return True

    def _pruner(self, interval_s: float) -> None:
        """Prune every ``interval_s``; while alerts are held in memory, try to store them every few seconds."""
        last = 0.0
        while True:
            if (len(self._spill) or self._unrecorded) and self._flush():
                for ev in self._wake.values():
                    ev.set()
            if time.monotonic() - last >= interval_s:
                last = time.monotonic()
                try:
                    self.prune()
                except sqlite3.Error as e:
                    log.warning("outbox: pruning failed: %s", e)
            self._kick.wait(FLUSH_EVERY_S if len(self._spill) or self._unrecorded else interval_s)
            self._kick.clear()
            if self._stop.is_set():
                return

    def _recover(self) -> None:
        """Make rows left by a previous run due now, list every configured sink (so ``facecam status`` shows
        it before its first alert), and report what is waiting."""
        now = self._clock()
        with self._db_lock:
            try:
                self._db.executemany("INSERT OR IGNORE INTO sink_state (sink) VALUES (?)",
                                     [(n,) for n in self._sinks])
            except sqlite3.OperationalError as exc:  # a full disk: the sinks show from their first alert
                log.debug("outbox: cannot list the sinks yet: %s", exc)
            self._db.execute("UPDATE deliveries SET next_try = ? WHERE delivered IS NULL AND gave_up IS NULL "
                             "AND next_try > ?", (now, now))
            rows = self._db.execute("SELECT sink, COUNT(*) FROM deliveries WHERE delivered IS NULL "
                                    "AND gave_up IS NULL GROUP BY sink").fetchall()
        for sink, n in rows:
            if sink in self._sinks:
                log.info("outbox: %d alerts waiting for %s from an earlier run", n, sink)
            else:
                log.warning("outbox: %d alerts wait for sink %r, which is no longer configured", n, sink)


def read_stats(path: str | Path) -> list[SinkStats]:
    """Stats of every sink recorded in the outbox file at ``path``, read-only.

    For a ``status`` command run while the daemon holds the outbox open.
    An outbox that does not exist yet, or whose tables do not (a run killed
    while it created them), has no stats (``[]``); a damaged file raises
    :class:`sqlite3.DatabaseError`.
    """
    if not Path(path).exists():
        return []
    db = connect_readonly(Path(path))
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sink_state'").fetchone():
            return []
        names = [r[0] for r in db.execute("SELECT DISTINCT sink FROM deliveries UNION "
                                          "SELECT sink FROM sink_state ORDER BY 1")]
        return _read_stats(db, names)
    finally:
        db.close()


def _read_stats(db: sqlite3.Connection, names: Sequence[str]) -> list[SinkStats]:
    out = []
    for name in names:
        queued, delivered, gave_up, oldest = db.execute(
            "SELECT COALESCE(SUM(d.delivered IS NULL AND d.gave_up IS NULL), 0), "
            "COALESCE(SUM(d.delivered IS NOT NULL), 0), COALESCE(SUM(d.gave_up IS NOT NULL), 0), "
            "MIN(CASE WHEN d.delivered IS NULL AND d.gave_up IS NULL THEN a.created END) FROM deliveries d "
            "JOIN alerts a ON a.seq = d.alert_seq WHERE d.sink = ?", (name,)).fetchone()
        state = db.execute("SELECT last_delivery, last_error, last_error_time FROM sink_state WHERE sink = ?",
                           (name,)).fetchone() or (None, None, None)
        out.append(SinkStats(name, int(queued), int(delivered), int(gave_up), _utc(oldest), _utc(state[0]),
                             state[1], _utc(state[2])))
    return out


def _utc(t: float | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC)


def encode_alert(alert: Alert) -> str:
    """The lossless JSON the outbox stores (not the public payload: floats and time are exact)."""
    c = alert.context
    return json.dumps({
        "v": 2, "id": alert.id, "camera": alert.camera, "time": alert.time.isoformat(),
        "person": alert.person, "distance": alert.distance, "box_xyxy": list(alert.box_xyxy),
        "snapshot": alert.snapshot, "kind": alert.kind.value,
        "context": {"event_id": c.event_id, "track": c.track, "votes": c.votes, "video_time_s": c.video_time_s,
                    "frame": c.frame, "last_seen": None if c.last_seen is None else c.last_seen.isoformat()},
    }, ensure_ascii=False)


def decode_alert(payload: str) -> Alert:
    """Inverse of :func:`encode_alert`; also reads version 1 (context as a dict of strings, before 0.2)."""
    d = json.loads(payload)
    if d.get("v") == 1:
        context = AlertContext.from_json_dict(d.get("extra") or {})
    elif d.get("v") == 2:
        c = d["context"]
        context = AlertContext(c["event_id"], c["track"], c["votes"], c["video_time_s"], c["frame"],
                               None if c["last_seen"] is None else dt.datetime.fromisoformat(c["last_seen"]))
    else:
        raise ValueError(f"outbox payload version: expected 1 or 2, got {d.get('v')!r}")
    return Alert(id=d["id"], camera=d["camera"], time=dt.datetime.fromisoformat(d["time"]),
                 person=d["person"], distance=float(d["distance"]),
                 box_xyxy=tuple(float(v) for v in d["box_xyxy"]),  # type: ignore[arg-type]
                 snapshot=d["snapshot"], kind=AlertKind(d["kind"]), context=context)
