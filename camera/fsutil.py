"""Crash-safe file writes, SQLite transactions, private files and folders, and the data directory's lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on an autocommit connection; any exception rolls back.

    Taking the write lock at the start means a concurrent writer waits
    (the connection's timeout) instead of failing half way.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def connect_readonly(path: Path, timeout: float = 10.0, **kw: object) -> sqlite3.Connection:
    """A connection to SQLite database ``path`` that only reads and writes nothing beside it.

    While a writer has the database open (its ``-wal`` or ``-shm`` file is there) this reads through them, as
    any reader; a database closed cleanly (neither file) is opened as immutable, so no ``-wal`` or ``-shm`` file
    is created (``facecam status`` and ``events`` never write) and a read-only mount of the data directory works.
    """
    path = Path(path).resolve()
    live = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm"))
    return sqlite3.connect(f"{path.as_uri()}?mode=ro{'' if live else '&immutable=1'}", uri=True, timeout=timeout,
                           **kw)  # type: ignore[arg-type]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either no file (or the old one) or the whole new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def private_dir(path: Path) -> Path:
    """``path`` as a folder (parents too) that only its owner can enter (0700 when created here)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and is readable and writable by its owner only (0600).

    For files that hold faces, embeddings or secrets: a file left broader by
    an older version is tightened. SQLite gives its ``-wal`` and ``-shm``
    files the mode of the database file.

    An existing file is never opened here, only changed by its path: closing
    any descriptor of a database file drops the POSIX locks that this
    process's SQLite connections hold on it (the "separate close()" way of
    corrupting SQLite), and the web app opens the gallery while the pipeline
    has it open.
    """
    path = Path(path)
    private_dir(path.parent)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):  # made by someone else meanwhile: checked below
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        mode = os.stat(path).st_mode
    if mode & 0o077:
        os.chmod(path, 0o600)
    return path


#: below this much free space (bytes), a storage error is the disk being full
FULL_BELOW_BYTES = 256 * 1024


class DirectoryLocked(Exception):
    """Another process holds the data directory (raised by :class:`DataDirLock`; its message says who)."""


class DataDirLock:
    """One writer per data directory: an exclusive ``flock`` on ``DATA_DIR/facecam.lock``, which records the
    holder's pid and start time so a second ``facecam run`` can say who holds it. Released when closed or when
    the process dies (the kernel drops the lock; a stale file is harmless)."""

    NAME = "facecam.lock"

    def __init__(self, root: Path, what: str = "facecam run") -> None:
        self.path = Path(root) / self.NAME
        private_dir(self.path.parent)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 500, 0).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            self._fd = None
            raise DirectoryLocked(f"data directory {root} is in use by {holder}; stop it first, or give this "
                                  "one another --data-dir") from None
        note = f"{what} (pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode()
        try:  # who holds it, for the next one's message (best effort: a full disk must not stop a run)
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, note, 0)
        except OSError:
            pass

    @classmethod
    def holder(cls, root: Path) -> str | None:
        """Who holds the lock of data directory ``root`` now (``"facecam run (pid N, started ...)"``), else
        ``None``. Only looks: creates nothing and never keeps the lock."""
        try:
            fd = os.open(Path(root) / cls.NAME, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 500, 0).decode(errors="replace").strip() or "another process"
        finally:
            os.close(fd)  # closing this descriptor also drops the shared lock taken here, and only that
        return None

    def close(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def disk_full(path: Path, exc: BaseException) -> bool:
    """Whether ``exc`` (from a file or database at ``path``) means its disk is full; SQLite may call that a
    "disk I/O error" when it cannot grow its -wal or -shm file."""
    text = str(exc)
    if "disk is full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return True
    free = _free_bytes(path)
    return free is not None and free < FULL_BELOW_BYTES and ("I/O error" in text or isinstance(exc, OSError))


def describe_storage_error(path: Path, exc: BaseException) -> str:
    """What went wrong with a file or database at ``path``, saying "the disk is full" when it is."""
    if not disk_full(path, exc):
        return f"{path}: {exc}"
    free = _free_bytes(path)
    room = "no room" if free is None else f"{free / 1e6:.1f} MB free"
    return f"{path}: the disk is full ({room}); free some space"


def _free_bytes(path: Path) -> int | None:
    p = Path(path)
    try:
        st = os.statvfs(p if p.is_dir() else p.parent)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize
