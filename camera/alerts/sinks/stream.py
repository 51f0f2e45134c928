"""A local event stream: every alert as one JSON line to every connected client.

Other programs on the machine subscribe by connecting to a Unix domain
socket (default ``DATA_DIR/events.sock``, mode 0600: only facecam's user and
root can connect; 0660 lets its group in too) and reading UTF-8 lines, each ``Alert.to_json_dict()`` as
JSON (newlines inside names are escaped by JSON, so one line is one alert).
No broker, no replay: a client sees the alerts sent while it is connected.
A client that leaves an alert unread for ``send_timeout_s`` seconds is
disconnected (the kernel's count of its unread bytes, ``SIOCOUTQ``, is
watched), so a stuck reader cannot hold up delivery or a slot; and when all
``max_clients`` slots are taken, a new client takes the slot of a silent one
(the longest unread, else the oldest connection), so connections that never
read cannot lock real readers out.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import stat
import struct
import tempfile
import termios
import threading
import time
from pathlib import Path

from pydantic import Field

from camera.alerts.base import SinkContext
from camera.configmodel import ConfigModel
from camera.errors import FacecamError
from camera.types import Alert

log = logging.getLogger(__name__)


class StreamPathError(FacecamError):
    """The socket path is taken: another process is listening, or it is not a socket."""


class StreamSink:
    """Serves alerts as JSON lines on the Unix socket ``path``.

    The constructor creates the socket (replacing a stale one left by a
    crash) and starts the accept thread; it raises :class:`StreamPathError`
    when another process serves ``path`` or ``path`` is a non-socket file.
    ``mode`` is the socket's permission: 0o600 (facecam's user only) or
    0o660 (its group too). ``max_clients`` caps concurrent readers (extra ones
    are refused).
    """

    def __init__(self, path: str | Path, *, name: str = "stream", mode: int = 0o600, max_clients: int = 32,
                 send_timeout_s: float = 1.0) -> None:
        if mode not in (0o600, 0o660):
            raise ValueError(f"stream socket mode: expected 0o600 or 0o660 (group may read), got {mode:#o}")
        self.name = name
        self.path = Path(path)
        self._max_clients, self._send_timeout_s = max_clients, send_timeout_s
        self._clients: list[socket.socket] = []
        #: connections accepted so far
        self.accepted = 0
        #: per client: when it connected, and since when it has had unread bytes (monotonic s)
        self._since: dict[socket.socket, tuple[float, float | None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = _listen(self.path, mode)
        self._inode = os.stat(self.path).st_ino
        self._thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)
        self._thread.start()
        log.info("%s: serving alerts on %s", name, self.path)

    @property
    def client_count(self) -> int:
        """How many clients are connected now."""
        with self._lock:
            return len(self._clients)

    def send(self, alert: Alert) -> None:
        """Write the alert line to every client, dropping those that fail or stopped reading; never raises."""
        line = (json.dumps(alert.to_json_dict(), ensure_ascii=False) + "\n").encode()
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            try:
                c.sendall(line)
            except OSError as e:  # includes timeouts and a client that went away
                log.info("%s: dropping client: %s", self.name, e)
                self._drop(c)
        self._drop_silent()

    def _drop_silent(self) -> None:
        """Drop clients that have left bytes unread for ``send_timeout_s``."""
        now = time.monotonic()
        silent = []
        with self._lock:
            for c in self._clients:
                connected, pending = self._since.get(c, (now, None))
                if _unread(c) > 0:
                    pending = pending if pending is not None else now
                    if now - pending >= self._send_timeout_s:
                        silent.append(c)
                else:
                    pending = None
                self._since[c] = (connected, pending)
        for c in silent:
            log.info("%s: dropping a client that has not read for %.1f s", self.name, self._send_timeout_s)
            self._drop(c)

    def close(self) -> None:
        """Stop accepting, disconnect clients and remove the socket file."""
        self._stop.set()
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as wake:
            wake.settimeout(0.5)
            wake.connect(str(self.path))  # wakes the accept() so the thread sees the stop
        self._thread.join(2.0)
        self._listener.close()
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        with self._lock:
            clients, self._clients = self._clients, []
        for c in clients:
            c.close()

    def _accept_loop(self) -> None:
        self._listener.settimeout(min(0.5, self._send_timeout_s))
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                self._drop_silent()
                continue
            except OSError as e:
                if not self._stop.is_set():
                    log.warning("%s: accept failed: %s", self.name, e)
                    self._stop.wait(0.5)
                continue
            if self._stop.is_set():
                conn.close()
                break
            self._drop_silent()
            with self._lock:
                evict = self._evictable() if len(self._clients) >= self._max_clients else None
            if evict is not None:
                log.warning("%s: %d clients connected; the new one takes the slot of the longest silent one",
                            self.name, self._max_clients)
                self._drop(evict)
            with self._lock:
                conn.settimeout(self._send_timeout_s)
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RD)  # clients only read
                self._clients.append(conn)
                self._since[conn] = (time.monotonic(), None)
                self.accepted += 1
            log.info("%s: client connected", self.name)

    def _evictable(self) -> socket.socket:
        """The client to give up when the slots are full: the longest unread one, else the oldest (lock held)."""
        def key(c: socket.socket) -> tuple[int, float]:
            connected, pending = self._since.get(c, (0.0, None))
            return (0, pending) if pending is not None else (1, connected)
        return min(self._clients, key=key)

    def _drop(self, conn: socket.socket) -> None:
        with self._lock:
            if conn in self._clients:
                self._clients.remove(conn)
            self._since.pop(conn, None)
        conn.close()


def _unread(conn: socket.socket) -> int:
    """Bytes sent to ``conn``'s peer that it has not read yet (Linux ``SIOCOUTQ``; 0 where unknown)."""
    try:
        return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def _listen(path: Path, mode: int) -> socket.socket:
    """A listening socket at ``path`` with ``mode``, created without a window where it is wider.

    The socket is bound inside a fresh 0700 directory, chmod-ed, then renamed
    into place (``rename`` is atomic and keeps the mode).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmpdir = tempfile.mkdtemp(prefix=".stream-", dir=path.parent)
    tmp = os.path.join(tmpdir, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(tmp)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
        sock.listen(64)
    except BaseException:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.rmdir(tmpdir)
    return sock


def _remove_stale(path: Path) -> None:
    """Remove a socket file left by a crashed run; refuse a live one or a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise StreamPathError(f"{path} exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("removing stale socket %s", path)
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise StreamPathError(f"{path}: another process is serving alerts there")


class StreamSinkConfig(ConfigModel):
    """A Unix socket sending each alert as a JSON line to every connected client."""

    path: str | None = Field(None, description="socket path (default DATA_DIR/events.sock)")
    mode: int = Field(0o600, ge=0o600, le=0o660, description="socket file mode (0o600 or 0o660)")
    max_clients: int = Field(32, ge=1, le=1024, description="connected clients at most")
    send_timeout_s: float = Field(1.0, gt=0, le=60, description="a client that stops reading is dropped")

    def sink_name(self, index: int) -> str:
        return "stream"

    def build(self, ctx: SinkContext, index: int) -> StreamSink:
        path = Path(self.path).expanduser() if self.path else ctx.root / "events.sock"
        return StreamSink(path, mode=self.mode, max_clients=self.max_clients, send_timeout_s=self.send_timeout_s)
