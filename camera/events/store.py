"""Visits as events: one SQLite row per visit, with a full-frame snapshot and a face crop as JPEG.

Layout: ``DATA_DIR/events.sqlite3`` (WAL) and ``DATA_DIR/events/YYYY-MM-DD/ID.jpg``
(the frame) and ``ID-face.jpg`` (the face with a margin of half its size on
every side, enough for the detector to find it again when the crop is
enrolled). Times are UTC ISO 8601 text plus the camera's clock in seconds;
``distance`` is the track's quality-weighted mean Euclidean distance to the
person (lower is more alike); ``quality`` (0-1) that of its best face;
``vectors`` the embeddings of the track's faces, so ``facecam label`` can
learn from the event without its pictures.

Crash safety: pictures are written whole (:func:`camera.fsutil.atomic_write`,
fsync then rename) *before* the transaction that names them commits, and
removed only *after* the transaction that forgets them commits, so a killed
process leaves no half row and no row that names a missing file. The writer
(``facecam run``, through :class:`camera.events.writer.EventWriter`) opens the
store with ``repair=True``: rows that name a missing file lose that path, and
files no row names (a crash between the write and the commit, or ``.tmp-*``
leftovers) are deleted. Run one writer per data directory. Readers (``facecam
events``, the service layer) open it with :meth:`EventStore.open_readonly`,
which writes nothing, not even a missing database.

Retention: events that ended more than ``retain_days`` ago are removed, then
the oldest until the pictures take at most ``max_disk_mb`` megabytes (10⁶ bytes).
``known_images = false`` (privacy) stores no pictures of household members:
only unknown faces keep theirs.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camera.errors import FacecamError, NotFound
from camera.events.config import EventsConfig
from camera.fsutil import (
    atomic_write,
    connect_readonly,
    describe_storage_error,
    disk_full,
    immediate_transaction,
    private_dir,
    private_file,
)
from camera.types import UNKNOWN

log = logging.getLogger(__name__)

EVENTS_DB = "events.sqlite3"
#: an event id, or a prefix of one long enough to name it (ids are 32 hex digits)
EVENT_ID = re.compile(r"[0-9a-f]{6,32}")
EVENTS_DIR = "events"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    camera TEXT NOT NULL,
    track INTEGER NOT NULL,
    person TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    distance REAL,
    quality REAL NOT NULL,
    snapshot TEXT,
    crop TEXT,
    bytes INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vectors BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_end ON events (end_time);
CREATE TABLE IF NOT EXISTS presence (
    person TEXT PRIMARY KEY,
    home INTEGER NOT NULL,
    since TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    camera TEXT NOT NULL
);
"""

#: schema upgrades, each additive (nothing stored is rewritten); ``PRAGMA user_version`` counts those applied
_MIGRATIONS = (
    """
    ALTER TABLE events ADD COLUMN votes INTEGER;
    ALTER TABLE events ADD COLUMN margin REAL;
    ALTER TABLE events ADD COLUMN nearest TEXT;
    ALTER TABLE events ADD COLUMN reviewed TEXT;
    CREATE INDEX IF NOT EXISTS events_start ON events (start_time, id);
    CREATE INDEX IF NOT EXISTS events_person_start ON events (person, start_time, id);
    CREATE INDEX IF NOT EXISTS events_camera_start ON events (camera, start_time, id);
    CREATE TABLE IF NOT EXISTS event_faces (
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        time_s REAL NOT NULL,
        quality REAL NOT NULL,
        distance REAL,
        PRIMARY KEY (event_id, n)
    );
    """,
    """
    CREATE INDEX IF NOT EXISTS events_person_end ON events (person, end_time);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
_COLUMNS = ("id, camera, track, person, start_time, end_time, start_s, end_s, distance, quality, snapshot, crop, "
            "model_id, votes, margin, nearest, reviewed")
#: what an event was marked as on the review page
REVIEW_STATES = ("dismissed", "labelled")


class EventError(FacecamError):
    """The event store cannot be opened, or refused an operation."""


class EventNotFound(EventError, NotFound):
    """No event has that id."""


@dataclass(frozen=True)
class Event:
    """One visit: who, where, when, how sure, and its pictures (absolute paths, or ``None``).

    The decision: ``distance`` the quality-weighted mean distance to ``person``
    (to ``nearest`` for an unknown), ``votes`` the good faces behind it,
    ``margin`` how much the second-nearest person's mean was above it.
    ``reviewed``: ``None``, or one of :data:`REVIEW_STATES`. ``vectors``
    (k, d) the embeddings of its faces; empty in listings (:meth:`EventStore.query`).
    """

    id: str
    camera: str
    track: int
    person: str
    start: dt.datetime
    end: dt.datetime
    start_s: float
    end_s: float
    distance: float | None
    quality: float
    snapshot: str | None
    crop: str | None
    model_id: str
    vectors: np.ndarray
    votes: int | None = None
    margin: float | None = None
    nearest: str | None = None
    reviewed: str | None = None


@dataclass(frozen=True)
class EventFace:
    """One embedded face of a visit: when (camera clock, s), its quality (0-1) and distance to the person named."""

    n: int
    time_s: float
    quality: float
    distance: float | None


@dataclass(frozen=True)
class EventQuery:
    """Which events to list, newest first: exact ``person`` (``unknown`` too), ``camera``, only unknown faces,
    a time range (UTC, ``since`` inclusive, ``until`` exclusive), and a page: at most ``limit`` events
    before the cursor ``before`` (the ``(start, id)`` of the last event of the previous page)."""

    person: str | None = None
    camera: str | None = None
    unknown_only: bool = False
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before: tuple[dt.datetime, str] | None = None
    limit: int = 50


@dataclass(frozen=True)
class Presence:
    """One person's presence: home or away since ``since``, last seen at ``last_seen`` on ``camera`` (UTC), of
    household node ``node`` (``None``: this node's own camera)."""

    person: str
    home: bool
    since: dt.datetime
    last_seen: dt.datetime
    camera: str
    node: str | None = None


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB (H, W, 3) uint8 image."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError("JPEG encoding failed")
    return buf.tobytes()


def face_crop(rgb: np.ndarray, box_xyxy: np.ndarray, margin: float = 0.5) -> np.ndarray:
    """The face in ``box_xyxy`` (pixels) with ``margin`` times its size added on every side, clipped."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    a, b = max(int(x1 - mx), 0), max(int(y1 - my), 0)
    c, d = min(int(np.ceil(x2 + mx)), w), min(int(np.ceil(y2 + my)), h)
    return np.ascontiguousarray(rgb[b:max(d, b + 1), a:max(c, a + 1)])


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


class EventStore:
    """The events database under ``data_dir``; use as a context manager or call close().

    Opened for writing (the default) it creates what is missing; ``repair``
    also runs :meth:`repair`. See :meth:`open_readonly` for readers.
    """

    def __init__(self, data_dir: Path, settings: EventsConfig | None = None, repair: bool = False, *,
                 readonly: bool = False) -> None:
        self.root = Path(data_dir)
        self.dir = self.root / EVENTS_DIR
        self.settings = settings if settings is not None else EventsConfig()
        self.readonly = readonly
        db_path = self.root / EVENTS_DB
        try:
            if readonly:
                if not db_path.is_file():
                    raise EventError(f"no events yet in {self.root} (no {EVENTS_DB}; `facecam run` records them)")
                self._db = connect_readonly(db_path, isolation_level=None, check_same_thread=False)
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:  # an older facecam's file: upgrade it once (additive), then read
                    self._db.close()
                    EventStore(self.root, self.settings).close()
                    self._db = connect_readonly(db_path, isolation_level=None, check_same_thread=False)
                self._db.execute("SELECT 1 FROM events LIMIT 1")
            else:
                private_dir(self.dir)
                private_file(db_path)
                self._db = sqlite3.connect(db_path, timeout=10, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._db.executescript(_SCHEMA)
                self._migrate()
        except (OSError, sqlite3.DatabaseError) as exc:
            if disk_full(db_path, exc) or isinstance(exc, OSError):
                raise EventError(describe_storage_error(db_path, exc)) from exc
            raise EventError(f"{db_path} is not a usable events database: {exc}") from exc
        if repair:
            self.repair()

    @classmethod
    def open_readonly(cls, data_dir: Path, settings: EventsConfig | None = None) -> EventStore:
        """The store for reading only: nothing is created or repaired; :class:`EventError` if there is none."""
        return cls(data_dir, settings, readonly=True)

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db)

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for i, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            with self._tx() as db:
                for statement in (s.strip() for s in script.split(";")):
                    if statement:
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {i}")
            log.info("events: database schema upgraded to version %d", i)

    # ----- writing -----------------------------------------------------------------

    def add(self, camera: str, track: int, person: str, start: dt.datetime, end: dt.datetime, start_s: float,
            end_s: float, distance: float, quality: float, rgb: np.ndarray | None, box_xyxy: np.ndarray | None,
            vectors: np.ndarray, model_id: str, event_id: str | None = None, votes: int | None = None,
            margin: float | None = None, nearest: str | None = None, faces: list[EventFace] | None = None) -> Event:
        """Store a new event (id ``event_id``, else a new one); its pictures (from ``rgb``, the frame,
        and ``box_xyxy``) are written first."""
        event_id = event_id or uuid.uuid4().hex
        keep_images = rgb is not None and box_xyxy is not None and (person == UNKNOWN or self.settings.known_images)
        snapshot = crop = None
        size = 0
        if keep_images:
            folder = self.dir / start.astimezone(dt.UTC).strftime("%Y-%m-%d")
            try:
                folder.mkdir(exist_ok=True)
                frame_jpg = encode_jpeg(rgb, self.settings.jpeg_quality)  # type: ignore[arg-type]
                face_jpg = encode_jpeg(face_crop(rgb, box_xyxy), self.settings.jpeg_quality)  # type: ignore[arg-type]
                atomic_write(folder / f"{event_id}.jpg", frame_jpg)
                atomic_write(folder / f"{event_id}-face.jpg", face_jpg)
                snapshot, crop = str(folder / f"{event_id}.jpg"), str(folder / f"{event_id}-face.jpg")
                size = len(frame_jpg) + len(face_jpg)
            except OSError as exc:
                log.error("event %s: pictures not saved: %s", event_id, exc)
                for p in (folder / f"{event_id}.jpg", folder / f"{event_id}-face.jpg"):
                    p.unlink(missing_ok=True)
                snapshot = crop = None
                size = 0
        vecs = np.atleast_2d(np.asarray(vectors, dtype="<f8"))
        with self._tx() as db:
            db.execute("INSERT INTO events (id, camera, track, person, start_time, end_time, start_s, end_s, "
                       "distance, quality, snapshot, crop, bytes, model_id, dim, vectors, votes, margin, nearest) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (event_id, camera, track, person, _iso(start), _iso(end), start_s, end_s,
                        _finite(distance), quality, self._rel(snapshot), self._rel(crop), size, model_id,
                        vecs.shape[1], vecs.tobytes(), votes, _finite(margin), nearest))
            db.executemany("INSERT INTO event_faces VALUES (?, ?, ?, ?, ?)",
                           [(event_id, f.n, f.time_s, f.quality, _finite(f.distance)) for f in faces or ()])
        return self.get(event_id)

    def update(self, event_id: str, end: dt.datetime, end_s: float, person: str | None = None,
               distance: float | None = None, vectors: np.ndarray | None = None, votes: int | None = None,
               margin: float | None = None, faces: list[EventFace] | None = None) -> None:
        """Extend an event to ``end``; change who it is (privacy is applied to the new name), its
        decision (distance, votes, margin) or its faces when given."""
        drop: list[Path] = []
        with self._tx() as db:
            db.execute("UPDATE events SET end_time = ?, end_s = MAX(end_s, ?) WHERE id = ?",
                       (_iso(end), end_s, event_id))
            if distance is not None:
                db.execute("UPDATE events SET distance = ? WHERE id = ?", (_finite(distance), event_id))
            if votes is not None:
                db.execute("UPDATE events SET votes = ?, margin = ? WHERE id = ?", (votes, _finite(margin), event_id))
            if faces is not None:
                db.execute("DELETE FROM event_faces WHERE event_id = ?", (event_id,))
                db.executemany("INSERT INTO event_faces VALUES (?, ?, ?, ?, ?)",
                               [(event_id, f.n, f.time_s, f.quality, _finite(f.distance)) for f in faces])
            if vectors is not None:
                vecs = np.atleast_2d(np.asarray(vectors, dtype="<f8"))
                db.execute("UPDATE events SET dim = ?, vectors = ? WHERE id = ?",
                           (vecs.shape[1], vecs.tobytes(), event_id))
            if person is not None:
                db.execute("UPDATE events SET person = ? WHERE id = ?", (person, event_id))
                if person != UNKNOWN and not self.settings.known_images:
                    row = db.execute("SELECT snapshot, crop FROM events WHERE id = ?", (event_id,)).fetchone()
                    drop = [self.root / p for p in (row or ()) if p]
                    db.execute("UPDATE events SET snapshot = NULL, crop = NULL, bytes = 0 WHERE id = ?", (event_id,))
        for p in drop:  # after the commit: no row names them any more
            p.unlink(missing_ok=True)

    def set_presence(self, p: Presence) -> None:
        """Store one person's presence."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO presence VALUES (?, ?, ?, ?, ?)",
                       (p.person, int(p.home), _iso(p.since), _iso(p.last_seen), p.camera))

    def prune(self, now: dt.datetime) -> int:
        """Apply retention (age, then disk use); returns the events removed."""
        cutoff = _iso(now - dt.timedelta(days=self.settings.retain_days))
        ids = [r[0] for r in self._db.execute("SELECT id FROM events WHERE end_time < ?", (cutoff,))]
        budget = int(self.settings.max_disk_mb * 1e6)
        used = self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM events WHERE end_time >= ?",
                                (cutoff,)).fetchone()[0]
        if used > budget:
            for event_id, size in self._db.execute(
                    "SELECT id, bytes FROM events WHERE end_time >= ? AND bytes > 0 ORDER BY end_time", (cutoff,)):
                ids.append(event_id)
                used -= size
                if used <= budget:
                    break
        if ids:
            self.delete(ids)
        return len(ids)

    def set_reviewed(self, event_ids: list[str], state: str | None) -> int:
        """Mark events ``dismissed`` or ``labelled`` on the review page (``None``: unmark); returns how many."""
        if state is not None and state not in REVIEW_STATES:
            raise EventError(f"review state {state!r}: expected one of {', '.join(REVIEW_STATES)}")
        with self._tx() as db:
            return sum(db.execute("UPDATE events SET reviewed = ? WHERE id = ?", (state, i)).rowcount
                       for i in event_ids)

    def delete(self, ids: list[str]) -> None:
        """Remove events: the rows first (one transaction), then their pictures."""
        files: list[Path] = []
        with self._tx() as db:
            for event_id in ids:
                row = db.execute("SELECT snapshot, crop FROM events WHERE id = ?", (event_id,)).fetchone()
                files += [self.root / p for p in (row or ()) if p]
                db.execute("DELETE FROM event_faces WHERE event_id = ?", (event_id,))
                db.execute("DELETE FROM events WHERE id = ?", (event_id,))
        for p in files:
            p.unlink(missing_ok=True)

    def repair(self) -> tuple[int, int]:
        """Forget paths to missing files and delete files no row names; returns (rows repaired, files deleted)."""
        fixed = 0
        with self._tx() as db:
            for event_id, snap, crop in db.execute("SELECT id, snapshot, crop FROM events").fetchall():
                if any(p and not (self.root / p).is_file() for p in (snap, crop)):
                    fixed += 1
                    db.execute("UPDATE events SET snapshot = NULL, crop = NULL, bytes = 0 WHERE id = ?", (event_id,))
                    for p in (snap, crop):  # keep both or neither
                        if p:
                            (self.root / p).unlink(missing_ok=True)
        named = {p for row in self._db.execute("SELECT snapshot, crop FROM events") for p in row if p}
        removed = 0
        for f in self.dir.rglob("*"):
            if f.is_file() and (f.name.startswith(".tmp-") or str(f.relative_to(self.root)) not in named):
                f.unlink(missing_ok=True)
                removed += 1
        if fixed or removed:
            log.warning("events: repaired %d rows whose pictures were missing, deleted %d stray files",
                        fixed, removed)
        return fixed, removed

    # ----- reading -----------------------------------------------------------------

    def get(self, event_id: str) -> Event:
        """The event with this id (a unique prefix of at least 6 characters is enough), or EventError."""
        if not EVENT_ID.fullmatch(event_id):
            raise EventError(f"{event_id!r} is not an event id: expected 6 to 32 hex digits (see `facecam events`)")
        # ids are lowercase hex: the ids starting with the prefix lie in [prefix, prefix + "g"), an index range
        rows = self._db.execute(f"SELECT {_COLUMNS}, dim, vectors FROM events WHERE id >= ? AND id < ? LIMIT 2",
                                (event_id, event_id + "g")).fetchall()
        if not rows:
            raise EventNotFound(f"no event with id {event_id!r}; see `facecam events`")
        if len(rows) > 1:
            raise EventError(f"{len(rows)} events with id {event_id!r}; give more of the id")
        return self._event(rows[0])

    def faces(self, event_id: str) -> list[EventFace]:
        """The embedded faces of an event, in order."""
        rows = self._db.execute("SELECT n, time_s, quality, distance FROM event_faces WHERE event_id = ? ORDER BY n",
                                (event_id,))
        return [EventFace(int(n), float(t), float(q), d) for n, t, q, d in rows]

    def query(self, q: EventQuery) -> list[Event]:
        """Events matching ``q``, newest first, without their vectors (fast at 100,000 events: indexed)."""
        where, args = [], []
        if q.person is not None:
            where.append("person = ?")
            args.append(q.person)
        if q.unknown_only:
            where.append("person = ?")
            args.append(UNKNOWN)
        if q.camera is not None:
            where.append("camera = ?")
            args.append(q.camera)
        if q.since is not None:
            where.append("start_time >= ?")
            args.append(_iso(q.since))
        if q.until is not None:
            where.append("start_time < ?")
            args.append(_iso(q.until))
        if q.before is not None:
            where.append("(start_time, id) < (?, ?)")
            args += [_iso(q.before[0]), q.before[1]]
        sql = f"SELECT {_COLUMNS}, dim, NULL FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_time DESC, id DESC LIMIT ?"
        return [self._event(r) for r in self._db.execute(sql, (*args, max(1, min(q.limit, 1000))))]

    def for_review(self, limit: int = 2000) -> list[Event]:
        """The latest unknown visits not yet reviewed, with their vectors, newest first."""
        rows = self._db.execute(f"SELECT {_COLUMNS}, dim, vectors FROM events WHERE person = ? AND reviewed IS NULL "
                                "ORDER BY start_time DESC, id DESC LIMIT ?", (UNKNOWN, limit))
        return [self._event(r) for r in rows]

    def review_state(self, limit: int = 2000) -> tuple[tuple[str, str, int], ...]:
        """What :meth:`for_review` would return, in brief: each visit's id, end time and vectors' size (which
        change when a visit grows). Reads no vectors, so a caller can tell cheaply whether anything changed."""
        rows = self._db.execute("SELECT id, end_time, length(vectors) FROM events WHERE person = ? AND reviewed IS NULL "
                                "ORDER BY start_time DESC, id DESC LIMIT ?", (UNKNOWN, limit))
        return tuple(rows)

    def cameras(self) -> list[str]:
        """Every camera that has events, by name (a skip scan of the camera index: fast at any size)."""
        rows = self._db.execute("WITH RECURSIVE c(x) AS (SELECT MIN(camera) FROM events UNION ALL "
                                "SELECT (SELECT MIN(camera) FROM events WHERE camera > x) FROM c WHERE x IS NOT NULL) "
                                "SELECT x FROM c WHERE x IS NOT NULL")
        return [r[0] for r in rows]

    def last_seen(self, people: list[str]) -> dict[str, dt.datetime]:
        """The latest visit end (UTC) of each of ``people`` who has one (one index lookup each)."""
        out = {}
        for p in people:
            row = self._db.execute("SELECT MAX(end_time) FROM events WHERE person = ?", (p,)).fetchone()
            if row and row[0]:
                out[p] = dt.datetime.fromisoformat(row[0])
        return out

    def snapshot_of(self, event_id: str) -> str | None:
        """The absolute path of event ``event_id``'s snapshot, or ``None`` (no such event, or no picture)."""
        row = self._db.execute("SELECT snapshot FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else self._abs(row[0])

    def list(self, limit: int = 50, person: str | None = None) -> list[Event]:
        """The latest events, newest first (without their vectors)."""
        return self.query(EventQuery(person=person, limit=limit))

    def presence(self) -> list[Presence]:
        """Everyone's stored presence, by name."""
        rows = self._db.execute("SELECT person, home, since, last_seen, camera FROM presence ORDER BY person")
        return [Presence(p, bool(h), dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(ls), c)
                for p, h, s, ls, c in rows]

    def _event(self, r: tuple) -> Event:
        """From a row of ``_COLUMNS`` followed by ``dim`` and ``vectors`` (``NULL``: no vectors)."""
        dim = int(r[17])
        vecs = np.zeros((0, dim)) if r[18] is None else np.frombuffer(r[18], dtype="<f8").astype(np.float64).reshape(-1, dim)
        return Event(r[0], r[1], int(r[2]), r[3], dt.datetime.fromisoformat(r[4]), dt.datetime.fromisoformat(r[5]),
                     float(r[6]), float(r[7]), r[8], float(r[9]), self._abs(r[10]), self._abs(r[11]), r[12], vecs,
                     r[13], r[14], r[15], r[16])

    def _rel(self, path: str | None) -> str | None:
        return None if path is None else str(Path(path).relative_to(self.root))

    def _abs(self, rel: str | None) -> str | None:
        return None if rel is None else str(self.root / rel)


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)
