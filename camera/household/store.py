"""The other nodes' sightings on disk (``DATA_DIR/household.sqlite3``), so ``facecam events`` and the web app,
which run apart from the daemon, show the household's presence too.

The household sync (``facecam run``, ``facecam sync``) writes one row per
(node, person), the latest sighting; readers open it with
:meth:`SightingStore.open_readonly`, which writes nothing. Times are UTC ISO 8601.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from camera.fsutil import connect_readonly, immediate_transaction, private_file
from camera.household.records import Sighting

HOUSEHOLD_DB = "household.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sightings (
    node TEXT NOT NULL,
    person TEXT NOT NULL,
    home INTEGER NOT NULL,
    camera TEXT NOT NULL,
    since TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (node, person)
);
"""


class SightingStore:
    """``DATA_DIR/household.sqlite3``, opened for writing (one connection; call from one thread at a time)."""

    def __init__(self, root: Path, *, _db: sqlite3.Connection | None = None) -> None:
        if _db is None:
            path = private_file(Path(root) / HOUSEHOLD_DB)
            _db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
            _db.execute("PRAGMA journal_mode=WAL")
            _db.executescript(_SCHEMA)
        self._db = _db

    @classmethod
    def open_readonly(cls, root: Path) -> SightingStore | None:
        """The store for reading only, or ``None`` when no sync has written one yet."""
        path = Path(root) / HOUSEHOLD_DB
        return cls(root, _db=connect_readonly(path)) if path.is_file() else None

    def save(self, s: Sighting) -> None:
        """Keep ``s`` as its node's latest sighting of its person (an older one changes nothing)."""
        with immediate_transaction(self._db) as db:
            db.execute("INSERT INTO sightings VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (node, person) DO UPDATE SET "
                       "home = excluded.home, camera = excluded.camera, since = excluded.since, "
                       "last_seen = excluded.last_seen WHERE excluded.last_seen >= sightings.last_seen",
                       (s.node, s.person, int(s.home), s.camera, s.since.isoformat(), s.last_seen.isoformat()))

    def sightings(self) -> list[Sighting]:
        """Every node's latest sighting of each person."""
        rows = self._db.execute("SELECT node, person, home, camera, since, last_seen FROM sightings "
                                "ORDER BY person, node").fetchall()
        return [Sighting(n, p, bool(h), c, dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(ls))
                for n, p, h, c, s, ls in rows]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SightingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
