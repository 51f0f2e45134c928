"""On-disk cache of per-photo embedding results, so a rerun skips the models.

One SQLite file, ``embeddings.sqlite``, under the cache directory (default
``platformdirs.user_cache_dir("facecam")/eval``). A row is keyed by the
sha256 of *what decides the result*: the photo's bytes (their sha256), the
engine name and the embedder's ``model_id`` (both: two engines may share a
``model_id`` because their vectors agree, yet an evaluation compares them), the detector settings, the face policy and
:data:`CACHE_VERSION`; changing any of them misses the cache rather than
returning a stale vector. Vectors are stored as float64 bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

log = logging.getLogger(__name__)

__all__ = ["CACHE_VERSION", "CachedFace", "EmbeddingCache", "cache_key", "default_cache_dir"]

#: Bump when the extraction logic changes what a cached row means
#: (2: ``central`` became "nearest the image centre").
CACHE_VERSION = 2


def default_cache_dir() -> Path:
    """``user_cache_dir("facecam")/eval`` (e.g. ``~/.cache/facecam/eval`` on Linux)."""
    return Path(user_cache_dir("facecam")) / "eval"


def cache_key(file_sha256: str, engine: str, model_id: str, settings_repr: str, policy_repr: str) -> str:
    """Hex sha256 over everything that decides a photo's embedding result."""
    text = "|".join([file_sha256, engine, model_id, settings_repr, policy_repr, f"v{CACHE_VERSION}"])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CachedFace:
    """A stored result: ``status``/``detail`` as extraction set them, ``vector`` (d,)
    float64 or ``None``, ``box_xyxy`` in pixels or ``None``, ``n_faces`` found,
    and the stage times in seconds when it was computed."""

    status: str
    detail: str
    vector: np.ndarray | None
    box_xyxy: tuple[float, float, float, float] | None
    n_faces: int
    decode_s: float
    detect_s: float
    embed_s: float


class EmbeddingCache:
    """The SQLite cache; use as a context manager. Only the main process writes."""

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "embeddings.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS faces (key TEXT PRIMARY KEY, status TEXT NOT NULL, detail TEXT,"
            " vector BLOB, box TEXT, n_faces INTEGER, decode_s REAL, detect_s REAL, embed_s REAL)")
        self._db.commit()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def get_many(self, keys: list[str]) -> dict[str, CachedFace]:
        """The cached rows among ``keys`` (missing keys are simply absent)."""
        out: dict[str, CachedFace] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, status, detail, vector, box, n_faces, decode_s, detect_s, embed_s "
                f"FROM faces WHERE key IN ({marks})", chunk)
            for key, status, detail, vec, box, n, dec, det, emb in rows:
                vector = None if vec is None else np.frombuffer(vec, np.float64).copy()
                out[key] = CachedFace(status, detail or "", vector,
                                      None if box is None else tuple(json.loads(box)), int(n or 0),
                                      float(dec or 0), float(det or 0), float(emb or 0))
        return out

    def put_many(self, items: list[tuple[str, CachedFace]]) -> None:
        """Store (or replace) rows and commit."""
        if not items:
            return
        self._db.executemany(
            "INSERT OR REPLACE INTO faces VALUES (?,?,?,?,?,?,?,?,?)",
            [(k, c.status, c.detail,
              None if c.vector is None else np.ascontiguousarray(c.vector, np.float64).tobytes(),
              None if c.box_xyxy is None else json.dumps([float(v) for v in c.box_xyxy]),
              c.n_faces, c.decode_s, c.detect_s, c.embed_s) for k, c in items])
        self._db.commit()
