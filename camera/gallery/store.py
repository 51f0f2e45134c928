"""The household's enrolled people, in SQLite under the data directory.

Layout: ``DATA_DIR/gallery.sqlite3`` (people, photos, embeddings) and
``DATA_DIR/photos/<sha256>.<ext>`` (the enrolment photos as given: they are
the source of truth, so embeddings can be rebuilt when the model changes).
Every embedding records the ``model_id`` that made it and its photo's sha256.
A photo imported from another node of the household (``[household]``,
:mod:`camera.household`) records that node as its ``origin``; photos
enrolled here have none, and only those are shared from here.
Each change is one transaction: a failure leaves the gallery as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import unicodedata
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera.errors import GalleryError, NotFound
from camera.fsutil import (
    atomic_write,
    describe_storage_error,
    disk_full,
    immediate_transaction,
    private_dir,
    private_file,
)
from camera.matching import GalleryIndex
from camera.types import UNKNOWN

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
MAX_NAME_LEN = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    stored_path TEXT NOT NULL,
    source_name TEXT NOT NULL,
    added_at TEXT NOT NULL,
    UNIQUE (person_id, sha256)
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    vector BLOB NOT NULL,
    box_xyxy TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (photo_id, model_id)
);
"""

#: schema 2 (additive): faces that were wrongly named, per person ("this is not NAME").
_NEGATIVES = """
CREATE TABLE IF NOT EXISTS negatives (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    vector BLOB NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (person_id, model_id, source)
);
"""


class GalleryNotFound(GalleryError, NotFound):
    """No person (or photo) has that name or id."""


def validate_name(name: str) -> str:
    """The name as stored (Unicode NFC, outer whitespace stripped), or GalleryError.

    Any letters, quotes, punctuation or newlines are allowed: names are data,
    never code (and are printed escaped). Refused: empty, NUL characters, no
    visible character (e.g. only a zero-width space), longer than 200
    characters, lone surrogates (an undecodable byte on the command line),
    and the reserved word ``unknown``.
    """
    clean = unicodedata.normalize("NFC", name).strip()
    if not clean:
        raise GalleryError("a person's name cannot be empty")
    if "\x00" in clean:
        raise GalleryError("a person's name cannot contain NUL characters")
    if len(clean) > MAX_NAME_LEN:
        raise GalleryError(f"a person's name is limited to {MAX_NAME_LEN} characters, got {len(clean)}")
    if any(unicodedata.category(c) == "Cs" for c in clean):  # an undecodable byte of argv; SQLite stores UTF-8
        raise GalleryError(f"a person's name must be valid Unicode text; {clean!r} holds an undecodable byte")
    if not any(unicodedata.category(c)[0] in "LNPS" for c in clean):  # letters, digits, punctuation, symbols
        raise GalleryError(f"a person's name needs a visible character; {clean!r} has none")
    if clean.lower() == UNKNOWN:
        raise GalleryError(f"{UNKNOWN!r} is reserved for faces that match no one; choose another name")
    return clean


@dataclass(frozen=True)
class PersonSummary:
    """One row of ``facecam people``: the person's id (stable across renames), name and counts."""

    name: str
    photos: int
    embeddings: int
    models: tuple[str, ...]
    id: int = 0


#: schema 3 (additive): each photo's face quality (0-1) as enrolment measured it
_PHOTO_QUALITY = "ALTER TABLE photos ADD COLUMN quality REAL"
#: schema 4 (additive): the household node a photo was imported from (NULL: enrolled here)
_PHOTO_ORIGIN = "ALTER TABLE photos ADD COLUMN origin TEXT"


@dataclass(frozen=True)
class StoredPhoto:
    """A stored enrolment photo: its id, person, sha256, file, face quality (0-1; ``None`` if enrolled by an
    older version or imported), when it was added (UTC ISO 8601) and the household node it was imported from
    (``None``: enrolled here)."""

    photo_id: int
    person: str
    sha256: str
    path: Path
    quality: float | None = None
    added: str = ""
    origin: str | None = None


@dataclass(frozen=True)
class ImportedPhoto:
    """A photo from another node, already verified: its bytes hash to ``sha256``; ``vector`` was made by
    ``model_id`` from the face at ``box_xyxy`` (pixels)."""

    sha256: str
    data: bytes
    source_name: str
    suffix: str
    vector: np.ndarray
    model_id: str
    box_xyxy: tuple[float, float, float, float]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Gallery:
    """The SQLite gallery under ``data_dir``. Use as a context manager or call close()."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "gallery.sqlite3"
        try:  # photos and embeddings of the household: owner only (0700 folders, 0600 files)
            private_dir(self.data_dir / "photos")
            private_file(self.path)
        except OSError as exc:
            raise GalleryError(f"cannot create the gallery in {self.data_dir}: "
                               f"{describe_storage_error(self.path, exc)}") from exc
        try:
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._db.executescript(_NEGATIVES)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(photos)")}
            if "quality" not in columns:
                self._db.execute(_PHOTO_QUALITY)
            if "origin" not in columns:
                self._db.execute(_PHOTO_ORIGIN)
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?",
                             (str(SCHEMA_VERSION), SCHEMA_VERSION))
        except sqlite3.DatabaseError as exc:
            if disk_full(self.path, exc):
                raise GalleryError(describe_storage_error(self.path, exc)) from exc
            raise GalleryError(f"{self.path} is not a usable gallery database: {exc}") from exc

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db)

    # ----- writing -----------------------------------------------------------------

    def add_photo_embedding(self, name: str, photo_bytes: bytes, sha256: str, source_name: str,
                            suffix: str, vector: np.ndarray, model_id: str,
                            box_xyxy: tuple[float, float, float, float], quality: float | None = None) -> bool:
        """Enrol one photo of ``name`` with its embedding, creating the person if new.

        The photo's bytes are stored first (atomically, named by sha256), then
        the rows in one transaction. Returns False when this person already
        has this exact photo with an embedding from ``model_id`` (nothing changes).
        """
        name = validate_name(name)
        vec = np.asarray(vector, dtype="<f8").ravel()
        stored = self._store_photo(photo_bytes, sha256, suffix)
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO people (name, created_at) VALUES (?, ?)", (name, _now()))
            (person_id,) = db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
            db.execute("INSERT OR IGNORE INTO photos (person_id, sha256, stored_path, source_name, added_at, quality) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (person_id, sha256, stored.name, source_name, _now(), quality))
            (photo_id,) = db.execute("SELECT id FROM photos WHERE person_id = ? AND sha256 = ?",
                                     (person_id, sha256)).fetchone()
            cur = db.execute("INSERT OR IGNORE INTO embeddings (photo_id, model_id, vector, box_xyxy, created_at)"
                             " VALUES (?, ?, ?, ?, ?)",
                             (photo_id, model_id, vec.tobytes(), ",".join(f"{v:.1f}" for v in box_xyxy), _now()))
            return cur.rowcount == 1

    def _store_photo(self, data: bytes, sha256: str, suffix: str) -> Path:
        suffix = suffix.lower() if suffix.lower() in {".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".webp"} else ".img"
        path = self.data_dir / "photos" / f"{sha256}{suffix}"
        if path.exists():
            return path
        atomic_write(path, data)
        return path

    def import_person(self, name: str, origin: str, photos: list[ImportedPhoto]) -> tuple[int, int]:
        """Make ``name``'s photos from node ``origin`` exactly ``photos``, in one transaction; returns (photos
        added, photos removed). Photos enrolled here or from other nodes are kept; a person this leaves without
        any photo is removed. Files are written before the commit and deleted after it."""
        name = validate_name(name)
        stored = {p.sha256: self._store_photo(p.data, p.sha256, p.suffix) for p in photos}
        with self._tx() as db:
            created = db.execute("INSERT OR IGNORE INTO people (name, created_at) VALUES (?, ?)",
                                 (name, _now())).rowcount
            (person_id,) = db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
            added = 0
            for p in photos:
                cur = db.execute("INSERT OR IGNORE INTO photos (person_id, sha256, stored_path, source_name, "
                                 "added_at, origin) VALUES (?, ?, ?, ?, ?, ?)",
                                 (person_id, p.sha256, stored[p.sha256].name, p.source_name, _now(), origin))
                added += cur.rowcount
                (photo_id,) = db.execute("SELECT id FROM photos WHERE person_id = ? AND sha256 = ?",
                                         (person_id, p.sha256)).fetchone()
                db.execute("INSERT OR IGNORE INTO embeddings (photo_id, model_id, vector, box_xyxy, created_at) "
                           "VALUES (?, ?, ?, ?, ?)", (photo_id, p.model_id, np.asarray(p.vector, "<f8").tobytes(),
                                                      ",".join(f"{v:.1f}" for v in p.box_xyxy), _now()))
            keep = [p.sha256 for p in photos]
            gone = db.execute(f"SELECT id, stored_path FROM photos WHERE person_id = ? AND origin = ? AND sha256 NOT IN "
                              f"({','.join('?' * len(keep))})", (person_id, origin, *keep)).fetchall()
            db.executemany("DELETE FROM photos WHERE id = ?", [(g[0],) for g in gone])
            if (created or gone) and not db.execute("SELECT 1 FROM photos WHERE person_id = ?", (person_id,)).fetchone():
                db.execute("DELETE FROM people WHERE id = ?", (person_id,))
        self._unlink_unused([g[1] for g in gone])
        return added, len(gone)

    def imported_names(self, origin: str) -> list[str]:
        """The people who have photos from node ``origin``, by name."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT p.name FROM photos ph JOIN people p ON "
                                               "p.id = ph.person_id WHERE ph.origin = ? ORDER BY p.name", (origin,))]

    def embedding(self, photo_id: int, model_id: str) -> tuple[np.ndarray, tuple[float, ...]] | None:
        """A stored photo's embedding by ``model_id`` and its face box (xyxy pixels), or ``None``."""
        row = self._db.execute("SELECT vector, box_xyxy FROM embeddings WHERE photo_id = ? AND model_id = ?",
                               (photo_id, model_id)).fetchone()
        if row is None:
            return None
        return np.frombuffer(row[0], dtype="<f8").astype(np.float64), tuple(float(v) for v in row[1].split(","))

    def data_version(self) -> int:
        """SQLite's ``data_version``: it changes when another connection (another process) commits a change."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _unlink_unused(self, names: list[str]) -> None:
        """Delete the photo files no photo row names any more (after the commit that forgot them)."""
        for p in names:  # a photo file may be shared by two people (same bytes)
            if not self._db.execute("SELECT 1 FROM photos WHERE stored_path = ?", (p,)).fetchone():
                (self.data_dir / "photos" / p).unlink(missing_ok=True)

    def rename(self, old: str, new: str) -> None:
        """Rename a person; GalleryError if ``old`` is unknown or ``new`` is taken."""
        old_clean, new_clean = validate_name(old), validate_name(new)
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM people WHERE name = ?", (old_clean,)).fetchone():
                raise GalleryNotFound(f"no person named {old_clean!r}; see `facecam people list`")
            if db.execute("SELECT 1 FROM people WHERE name = ?", (new_clean,)).fetchone():
                raise GalleryError(f"{new_clean!r} is already enrolled; remove or rename them first")
            db.execute("UPDATE people SET name = ? WHERE name = ?", (new_clean, old_clean))

    def remove(self, name: str) -> int:
        """Remove a person with their photos and embeddings; returns photos removed."""
        clean = validate_name(name)
        with self._tx() as db:
            row = db.execute("SELECT id FROM people WHERE name = ?", (clean,)).fetchone()
            if not row:
                raise GalleryNotFound(f"no person named {clean!r}; see `facecam people list`")
            paths = [r[0] for r in db.execute("SELECT stored_path FROM photos WHERE person_id = ?", row)]
            db.execute("DELETE FROM people WHERE id = ?", row)
        self._unlink_unused(paths)
        return len(paths)

    def remove_photo(self, photo_id: int) -> StoredPhoto:
        """Remove one enrolment photo with its embeddings; returns it. A person left with no photo stays
        listed (remove them with :meth:`remove`)."""
        photo = self.photo(photo_id)
        with self._tx() as db:
            db.execute("DELETE FROM photos WHERE id = ?", (photo_id,))
        if not self._db.execute("SELECT 1 FROM photos WHERE stored_path = ?", (photo.path.name,)).fetchone():
            photo.path.unlink(missing_ok=True)
        return photo

    def add_embedding(self, photo_id: int, vector: np.ndarray, model_id: str,
                      box_xyxy: tuple[float, float, float, float]) -> None:
        """Store (or replace) the embedding of a stored photo for ``model_id`` (used by rebuild)."""
        vec = np.asarray(vector, dtype="<f8").ravel()
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO embeddings (photo_id, model_id, vector, box_xyxy, created_at) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (photo_id, model_id, vec.tobytes(), ",".join(f"{v:.1f}" for v in box_xyxy), _now()))

    def add_negative(self, name: str, vectors: np.ndarray, model_id: str, source: str) -> int:
        """Store faces (k, d) that are *not* ``name`` (e.g. from a wrongly named event); returns how many were new.

        ``source`` says where they came from (``event:ID``); storing the same
        source again changes nothing. GalleryError if ``name`` is not enrolled.
        """
        clean = validate_name(name)
        vecs = np.asarray(vectors, dtype="<f8").reshape(-1, np.asarray(vectors).shape[-1])
        with self._tx() as db:
            row = db.execute("SELECT id FROM people WHERE name = ?", (clean,)).fetchone()
            if not row:
                raise GalleryNotFound(f"no person named {clean!r}; see `facecam people list`")
            added = 0
            for k, v in enumerate(vecs):
                cur = db.execute("INSERT OR IGNORE INTO negatives (person_id, model_id, vector, source, created_at) "
                                 "VALUES (?, ?, ?, ?, ?)", (row[0], model_id, v.tobytes(), f"{source}#{k}", _now()))
                added += cur.rowcount
            return added

    def negatives(self, model_id: str) -> GalleryIndex:
        """The negative examples made by ``model_id``, labelled by the person they are *not*."""
        rows = self._db.execute(
            "SELECT p.name, n.vector FROM negatives n JOIN people p ON p.id = n.person_id "
            "WHERE n.model_id = ? ORDER BY p.name, n.id", (model_id,)).fetchall()
        if not rows:
            return GalleryIndex.empty(model_id)
        names = tuple(sorted({r[0] for r in rows}))
        pos = {n: i for i, n in enumerate(names)}
        vectors = np.stack([np.frombuffer(r[1], dtype="<f8") for r in rows]).astype(np.float64)
        return GalleryIndex(names, vectors, np.array([pos[r[0]] for r in rows], np.int64), model_id)

    # ----- reading -----------------------------------------------------------------

    def people(self) -> list[PersonSummary]:
        """Every person with counts, sorted by name."""
        rows = self._db.execute(
            "SELECT p.name, COUNT(DISTINCT ph.id), COUNT(e.id), GROUP_CONCAT(DISTINCT e.model_id), p.id "
            "FROM people p LEFT JOIN photos ph ON ph.person_id = p.id "
            "LEFT JOIN embeddings e ON e.photo_id = ph.id GROUP BY p.id ORDER BY p.name").fetchall()
        return [PersonSummary(n, ph, e, tuple(sorted((m or "").split(",")) if m else ()), i)
                for n, ph, e, m, i in rows]

    def person(self, person_id: int) -> PersonSummary:
        """One person by id, or :class:`GalleryError`."""
        for p in self.people():
            if p.id == person_id:
                return p
        raise GalleryNotFound(f"no person with id {person_id}")

    def photos(self, person: str | None = None) -> list[StoredPhoto]:
        """Every stored enrolment photo (of ``person`` only, when given), oldest first."""
        where, args = ("WHERE p.name = ?", (validate_name(person),)) if person is not None else ("", ())
        rows = self._db.execute("SELECT ph.id, p.name, ph.sha256, ph.stored_path, ph.quality, ph.added_at, ph.origin "
                                f"FROM photos ph JOIN people p ON p.id = ph.person_id {where} ORDER BY ph.id",
                                args).fetchall()
        return [StoredPhoto(i, n, s, self.data_dir / "photos" / sp, q, a, o) for i, n, s, sp, q, a, o in rows]

    def photo(self, photo_id: int) -> StoredPhoto:
        """One stored photo by id, or :class:`GalleryError`."""
        row = self._db.execute("SELECT ph.id, p.name, ph.sha256, ph.stored_path, ph.quality, ph.added_at, ph.origin "
                               "FROM photos ph JOIN people p ON p.id = ph.person_id WHERE ph.id = ?",
                               (photo_id,)).fetchone()
        if row is None:
            raise GalleryNotFound(f"no photo {photo_id}")
        return StoredPhoto(row[0], row[1], row[2], self.data_dir / "photos" / row[3], row[4], row[5], row[6])

    def photos_missing(self, model_id: str) -> list[StoredPhoto]:
        """Stored photos that have no embedding from ``model_id`` yet."""
        have = {r[0] for r in self._db.execute("SELECT photo_id FROM embeddings WHERE model_id = ?", (model_id,))}
        return [p for p in self.photos() if p.photo_id not in have]

    def index(self, model_id: str) -> GalleryIndex:
        """A snapshot of every embedding made by ``model_id``, for matching."""
        rows = self._db.execute(
            "SELECT p.name, e.vector FROM embeddings e JOIN photos ph ON ph.id = e.photo_id "
            "JOIN people p ON p.id = ph.person_id WHERE e.model_id = ? ORDER BY p.name, e.id",
            (model_id,)).fetchall()
        if not rows:
            return GalleryIndex.empty(model_id)
        names = tuple(sorted({r[0] for r in rows}))
        pos = {n: i for i, n in enumerate(names)}
        vectors = np.stack([np.frombuffer(r[1], dtype="<f8") for r in rows]).astype(np.float64)
        labels = np.array([pos[r[0]] for r in rows], dtype=np.int64)
        return GalleryIndex(names, vectors, labels, model_id)

    def counts(self) -> tuple[int, int, int]:
        """(people, photos, embeddings): used by tests to check nothing changed."""
        q = self._db.execute
        return (q("SELECT COUNT(*) FROM people").fetchone()[0], q("SELECT COUNT(*) FROM photos").fetchone()[0],
                q("SELECT COUNT(*) FROM embeddings").fetchone()[0])
