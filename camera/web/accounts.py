"""Local accounts for the web app and the API: users, sessions and API tokens, in ``DATA_DIR/accounts.sqlite3``.

Passwords are hashed with argon2id (argon2-cffi, its default parameters);
session ids and API tokens are 32 random bytes, shown once and stored only as
their SHA-256 (a token is as long as a key: no slow hash needed). The file
is created readable by its owner only (0600). Sessions expire
:data:`SESSION_DAYS` days after login. :class:`LoginLimiter` slows password
guessing: after :data:`MAX_FAILURES` failures within :data:`WINDOW_S`
seconds, for one client address or one user name, further tries are refused
until the window has passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import sqlite3
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from camera.errors import FacecamError
from camera.fsutil import immediate_transaction, private_file

ACCOUNTS_DB = "accounts.sqlite3"
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
SESSION_DAYS = 14
MAX_FAILURES = 5
WINDOW_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created TEXT NOT NULL,
    last_used TEXT
);
"""


class AccountError(FacecamError):
    """An account operation was refused (bad name, weak password, unknown user or token)."""


@dataclass(frozen=True)
class Session:
    """A logged-in browser: who, its CSRF token (sent back in ``X-CSRF-Token`` on every change), expiry (UNIX s)."""

    user: str
    csrf: str
    expires: float


@dataclass(frozen=True)
class Token:
    """An API token's public part: its id, owner, label and times (UTC ISO 8601)."""

    id: str
    user: str
    label: str
    created: str
    last_used: str | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def check_user_name(name: str) -> str:
    """``name`` if it is a valid account name, else :class:`AccountError` saying what is allowed."""
    if not USER_NAME.fullmatch(name):
        raise AccountError(f"account name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-', starting with "
                           "a letter or digit")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


class Accounts:
    """The accounts file of data directory ``root``; thread-safe (one connection, one lock)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / ACCOUNTS_DB
        self._hasher = PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_hex(16))  # verified against when a user is unknown
        self._lock = threading.Lock()
        try:
            private_file(self.path)
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise AccountError(f"{self.path} is not a usable accounts database: {exc}") from exc

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db)

    # ----- users ---------------------------------------------------------------------

    def users(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT name FROM users ORDER BY name")]

    def add_user(self, name: str, password: str) -> None:
        check_user_name(name)
        digest = self._hasher.hash(check_password(password))
        with self._lock, self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"account {name!r} exists; set its password with `facecam user passwd {name}`")
            db.execute("INSERT INTO users VALUES (?, ?, ?)", (name, digest, _now()))

    def set_password(self, name: str, password: str) -> None:
        digest = self._hasher.hash(check_password(password))
        with self._lock, self._tx() as db:
            if db.execute("UPDATE users SET hash = ? WHERE name = ?", (digest, name)).rowcount != 1:
                raise AccountError(f"no account {name!r}; see `facecam user list`")
            db.execute("DELETE FROM sessions WHERE user = ?", (name,))  # log out everywhere

    def remove_user(self, name: str) -> None:
        with self._lock, self._tx() as db:
            if db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount != 1:
                raise AccountError(f"no account {name!r}; see `facecam user list`")

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s (the same work is done for an unknown name)."""
        with self._lock:
            row = self._db.execute("SELECT hash FROM users WHERE name = ?", (name,)).fetchone()
        try:
            return self._hasher.verify(row[0] if row else self._dummy, password[:MAX_PASSWORD]) and row is not None
        except (VerificationError, InvalidHashError):
            return False

    # ----- sessions ------------------------------------------------------------------

    def create_session(self, user: str) -> tuple[str, Session]:
        """A new session for ``user``: ``(session id for the cookie, session)``."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = time.time() + SESSION_DAYS * 86400
        with self._lock, self._tx() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (_digest(sid), user, csrf, expires))
        return sid, Session(user, csrf, expires)

    def session(self, sid: str) -> Session | None:
        """The live session with this id, or ``None``."""
        if not sid or len(sid) > 200:
            return None
        with self._lock:
            row = self._db.execute("SELECT user, csrf, expires FROM sessions WHERE digest = ?",
                                   (_digest(sid),)).fetchone()
        if row is None or row[2] < time.time():
            return None
        return Session(row[0], row[1], row[2])

    def end_session(self, sid: str) -> None:
        with self._lock, self._tx() as db:
            db.execute("DELETE FROM sessions WHERE digest = ?", (_digest(sid),))

    # ----- API tokens ----------------------------------------------------------------

    def create_token(self, user: str, label: str = "") -> tuple[Token, str]:
        """A new token for ``user``: ``(its public part, the secret to give to the client once)``."""
        if len(label) > 200 or not label.isprintable():
            raise AccountError("a token label is at most 200 printable characters")
        secret = "fct_" + secrets.token_urlsafe(32)
        token = Token(secrets.token_hex(4), user, label, _now(), None)
        with self._lock, self._tx() as db:
            if not db.execute("SELECT 1 FROM users WHERE name = ?", (user,)).fetchone():
                raise AccountError(f"no account {user!r}; create it with `facecam user add {user}`")
            db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, NULL)",
                       (token.id, _digest(secret), user, label, token.created))
        return token, secret

    def tokens(self) -> list[Token]:
        with self._lock:
            rows = self._db.execute("SELECT id, user, label, created, last_used FROM tokens ORDER BY created, id")
            return [Token(*r) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        with self._lock, self._tx() as db:
            if db.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount != 1:
                raise AccountError(f"no token {token_id!r}; see `facecam token list`")

    def token_user(self, secret: str) -> str | None:
        """The user a token belongs to, or ``None`` (unknown or revoked)."""
        if not secret.startswith("fct_") or len(secret) > 200:
            return None
        with self._lock:
            row = self._db.execute("SELECT id, user, last_used FROM tokens WHERE digest = ?",
                                   (_digest(secret),)).fetchone()
            if row is None:
                return None
            now = _now()
            if row[2] != now[:16]:  # record the use at most once a minute
                self._db.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now[:16], row[0]))
        return str(row[1])


class LoginLimiter:
    """Failed logins per client address and per user name; refuses after :data:`MAX_FAILURES` in :data:`WINDOW_S`."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, *keys: str) -> float:
        """Seconds before another try is allowed for any of ``keys`` (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for k in keys:
                recent = [t for t in self._failures.get(k, []) if now - t < self.window_s]
                self._failures[k] = recent
                if len(recent) >= self.max_failures:
                    waits.append(self.window_s - (now - recent[0]))
            return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._failures.setdefault(k, []).append(now)
            if len(self._failures) > 10_000:  # bound memory against many addresses
                self._failures = {k: v for k, v in self._failures.items() if v and now - v[-1] < self.window_s}

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)
