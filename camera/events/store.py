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

from camera.errors import FacecamError
from camera.events.config import EventsConfig
from camera.fsutil import atomic_write, immediate_transaction
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


class EventError(FacecamError):
    """The event store cannot be opened, or an event asked for does not exist."""


@dataclass(frozen=True)
class Event:
    """One visit: who, where, when, how sure, and its pictures (absolute paths, or ``None``)."""

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


@dataclass(frozen=True)
class Presence:
    """One person's presence: home or away since ``since``, last seen at ``last_seen`` on ``camera``."""

    person: str
    home: bool
    since: dt.datetime
    last_seen: dt.datetime
    camera: str


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
                self._db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10,
                                           isolation_level=None, check_same_thread=False)
                self._db.execute("SELECT 1 FROM events LIMIT 1")
            else:
                self.dir.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(db_path, timeout=10, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
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

    # ----- writing -----------------------------------------------------------------

    def add(self, camera: str, track: int, person: str, start: dt.datetime, end: dt.datetime, start_s: float,
            end_s: float, distance: float, quality: float, rgb: np.ndarray | None, box_xyxy: np.ndarray | None,
            vectors: np.ndarray, model_id: str, event_id: str | None = None) -> Event:
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
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (event_id, camera, track, person, _iso(start), _iso(end), start_s, end_s,
                        _finite(distance), quality, self._rel(snapshot), self._rel(crop), size, model_id,
                        vecs.shape[1], vecs.tobytes()))
        return self.get(event_id)

    def update(self, event_id: str, end: dt.datetime, end_s: float, person: str | None = None,
               distance: float | None = None, vectors: np.ndarray | None = None) -> None:
        """Extend an event to ``end`` and optionally change who it is (privacy is applied to the new name)."""
        drop: list[Path] = []
        with self._tx() as db:
            db.execute("UPDATE events SET end_time = ?, end_s = MAX(end_s, ?) WHERE id = ?",
                       (_iso(end), end_s, event_id))
            if distance is not None:
                db.execute("UPDATE events SET distance = ? WHERE id = ?", (_finite(distance), event_id))
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

    def delete(self, ids: list[str]) -> None:
        """Remove events: the rows first (one transaction), then their pictures."""
        files: list[Path] = []
        with self._tx() as db:
            for event_id in ids:
                row = db.execute("SELECT snapshot, crop FROM events WHERE id = ?", (event_id,)).fetchone()
                files += [self.root / p for p in (row or ()) if p]
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
        rows = self._db.execute("SELECT * FROM events WHERE substr(id, 1, ?) = ? LIMIT 2",
                                (len(event_id), event_id)).fetchall()
        if len(rows) != 1:
            what = "no event" if not rows else f"{len(rows)} events"
            raise EventError(f"{what} with id {event_id!r}; see `facecam events`")
        return self._event(rows[0])

    def snapshot_of(self, event_id: str) -> str | None:
        """The absolute path of event ``event_id``'s snapshot, or ``None`` (no such event, or no picture)."""
        row = self._db.execute("SELECT snapshot FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else self._abs(row[0])

    def list(self, limit: int = 50, person: str | None = None) -> list[Event]:
        """The latest events, newest first."""
        q, args = "SELECT * FROM events", []
        if person is not None:
            q, args = q + " WHERE person = ?", [person]
        return [self._event(r) for r in self._db.execute(q + " ORDER BY start_time DESC LIMIT ?", (*args, limit))]

    def presence(self) -> list[Presence]:
        """Everyone's stored presence, by name."""
        rows = self._db.execute("SELECT person, home, since, last_seen, camera FROM presence ORDER BY person")
        return [Presence(p, bool(h), dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(ls), c)
                for p, h, s, ls, c in rows]

    def _event(self, r: tuple) -> Event:
        vecs = np.frombuffer(r[15], dtype="<f8").astype(np.float64).reshape(-1, int(r[14]))
        return Event(r[0], r[1], int(r[2]), r[3], dt.datetime.fromisoformat(r[4]), dt.datetime.fromisoformat(r[5]),
                     float(r[6]), float(r[7]), r[8], float(r[9]), self._abs(r[10]), self._abs(r[11]), r[13], vecs)

    def _rel(self, path: str | None) -> str | None:
        return None if path is None else str(Path(path).relative_to(self.root))

    def _abs(self, rel: str | None) -> str | None:
        return None if rel is None else str(self.root / rel)


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)
