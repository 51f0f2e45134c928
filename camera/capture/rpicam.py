"""The Raspberry Pi camera through ``rpicam-vid``, run as a supervised child process (the ``picamera`` source).

Why a child process: Raspberry Pi OS's in-process camera library,
``python3-picamera2``, comes with ``simplejpeg`` built against Debian's numpy
(1.24 on bookworm), while facecam's OpenCV wheels need numpy 2; in one
interpreter they cannot both load (picamera2 issues #1088 and #1211).
``rpicam-vid`` (package ``rpicam-apps``; ``libcamera-vid`` on older images)
is a program, so facecam only reads its standard output: nothing from the
system's Python is needed. The in-process adapter stays available as the
``picamera2`` source (:mod:`camera.capture.picamera`).

The command line (options as documented in Raspberry Pi's camera software
guide, ``documentation/asciidoc/computers/camera/rpicam_options_common.adoc``
and ``rpicam_options_vid.adoc`` in raspberrypi/documentation, and defined in
raspberrypi/rpicam-apps ``core/options.cpp`` and ``core/video_options.hpp``)::

    rpicam-vid --camera N --width W --height H --framerate F --codec mjpeg --quality Q
               --timeout 0 --nopreview --flush --output -

``--camera``: the index ``rpicam-vid --list-cameras`` shows; ``--width`` and
``--height``: the output size in pixels; ``--framerate``: frames a second;
``--codec mjpeg``: every frame a whole JPEG (the default is H.264);
``--quality``: MJPEG quality 1-100 (rpicam-vid's default is 50);
``--timeout 0`` (``-t 0``): run until stopped (the default is 5 s);
``--nopreview`` (``-n``): no preview window; ``--flush``: flush each frame to
the pipe as soon as it is written; ``--output -`` (``-o -``): standard output.

Supervision: :meth:`RpicamSource.open` starts the child and waits for its
first frame (``start_timeout_s``), so a missing camera fails at start-up with
rpicam-vid's own last messages. :meth:`~RpicamSource.read` raises
:class:`~camera.errors.CameraUnavailable` when the child exits (its status and
last stderr lines in the message) or sends no frame for ``stall_timeout_s``;
the capture worker then closes the source and opens it again with backoff,
which starts a new child. :meth:`~RpicamSource.close` sends SIGTERM, then
SIGKILL after ``grace_s``, and reaps the child, so none is left a zombie.
stderr is drained by a thread (a full pipe would block the child); its last
lines are kept, and logged at debug level.

Frames: BGR uint8, ``timestamp_s`` on the monotonic clock when the frame's
last byte arrived. When frames arrive faster than they are read, the newest
whole one is decoded and the older ones are counted in ``skipped`` (they are
never decoded). Units: pixels, frames a second, seconds.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from typing import IO, cast

import cv2
import numpy as np

from camera.capture.base import RawFrame
from camera.capture.mjpeg import JpegSplitter
from camera.errors import CameraUnavailable
from camera.redact import one_line, redact_text

log = logging.getLogger(__name__)

#: the programs tried, in order (rpicam-apps renamed libcamera-vid to rpicam-vid in late 2023)
EXECUTABLES = ("rpicam-vid", "libcamera-vid")
DEFAULT_WIDTH, DEFAULT_HEIGHT = 1280, 720
DEFAULT_FRAMERATE = 15.0
DEFAULT_QUALITY = 80
#: seconds to wait for the first frame after starting rpicam-vid (libcamera's start-up takes 1-3 s)
START_TIMEOUT_S = 15.0
#: seconds without a frame before the child counts as stalled (rpicam-vid itself restarts the camera
#: after a device timeout; this leaves it time to)
STALL_TIMEOUT_S = 10.0
#: seconds between SIGTERM and SIGKILL
GRACE_S = 3.0
#: stderr lines kept for error messages
STDERR_LINES = 20
_READ_BYTES = 1 << 20
#: the most bytes read ahead, without waiting, to find a newer frame before decoding one
_DRAIN_BYTES = 8 << 20


class RpicamSource:
    """``picamera`` / ``picamera:N``: camera ``index`` read from an ``rpicam-vid`` child as MJPEG."""

    live = True

    def __init__(self, index: int = 0, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                 framerate: float = DEFAULT_FRAMERATE, quality: int = DEFAULT_QUALITY,
                 start_timeout_s: float = START_TIMEOUT_S, stall_timeout_s: float = STALL_TIMEOUT_S,
                 grace_s: float = GRACE_S) -> None:
        if width <= 0 or height <= 0 or framerate <= 0 or not 1 <= quality <= 100:
            raise CameraUnavailable(f"Raspberry Pi camera {index}: expected a positive size and frame rate and a "
                                    f"quality of 1-100, got {width}x{height} at {framerate} fps, quality {quality}")
        self.index, self.width, self.height = index, width, height
        self.framerate, self.quality = framerate, quality
        self.start_timeout_s, self.grace_s = start_timeout_s, grace_s
        # never shorter than a few frame intervals, whatever the frame rate
        self.stall_timeout_s = max(stall_timeout_s, 3.0 / framerate)
        self.description = f"Raspberry Pi camera {index} (rpicam-vid)"
        #: children started, frames dropped for a newer one, frames OpenCV could not decode
        self.starts = 0
        self.skipped = 0
        self.undecodable = 0
        self._lock = threading.Lock()  # held while starting, reading from or stopping the child
        self._proc: subprocess.Popen[bytes] | None = None
        self._program = EXECUTABLES[0]
        self._selector: selectors.BaseSelector | None = None  # watches the child's stdout, ``_fd``
        self._fd = -1
        self._splitter = JpegSplitter()
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._stderr_thread: threading.Thread | None = None
        self._pending: RawFrame | None = None

    @property
    def pid(self) -> int | None:
        """The running child's process id, or ``None``."""
        proc = self._proc
        return None if proc is None else proc.pid

    def command(self, program: str) -> list[str]:
        """The child's argv (see the module docstring for each option's source)."""
        return [program, "--camera", str(self.index), "--width", str(self.width), "--height", str(self.height),
                "--framerate", f"{self.framerate:g}", "--codec", "mjpeg", "--quality", str(self.quality),
                "--timeout", "0", "--nopreview", "--flush", "--output", "-"]

    def open(self) -> None:
        """Start rpicam-vid and wait for its first frame; CameraUnavailable (the child stopped) if none comes."""
        with self._lock:
            self._stop_child()
            program = _find_program()
            self._program = os.path.basename(program)
            argv = self.command(program)
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
            except OSError as exc:
                raise CameraUnavailable(f"{self.description}: cannot start {program}: {exc.strerror}") from exc
            self._proc = proc
            self.starts += 1
            log.debug("%s: started %s (pid %d)", self.description, " ".join(argv), proc.pid)
            stdout, stderr = cast(IO[bytes], proc.stdout), cast(IO[bytes], proc.stderr)  # PIPE was asked for
            self._fd = stdout.fileno()
            selector = self._selector = selectors.DefaultSelector()
            selector.register(self._fd, selectors.EVENT_READ)
            self._splitter = JpegSplitter()
            self._stderr = collections.deque(maxlen=STDERR_LINES)
            self._stderr_thread = threading.Thread(target=_drain_stderr, args=(stderr, self._stderr, proc.pid),
                                                   name=f"rpicam-stderr-{proc.pid}", daemon=True)
            self._stderr_thread.start()
            try:
                self._pending = self._next_frame(proc, selector, self.start_timeout_s, starting=True)
            except CameraUnavailable:
                self._stop_child()
                raise

    def read(self) -> RawFrame | None:
        """The newest frame; CameraUnavailable when the child has exited or stalled."""
        with self._lock:
            proc, selector = self._proc, self._selector
            if proc is None or selector is None:
                raise CameraUnavailable(f"{self.description} is not open")
            if self._pending is not None:
                frame, self._pending = self._pending, None
                return frame
            return self._next_frame(proc, selector, self.stall_timeout_s)

    def close(self) -> None:
        """Stop the child (SIGTERM, SIGKILL after ``grace_s``) and reap it; safe to call twice, from any thread."""
        deadline = time.monotonic() + self.grace_s
        # Another thread may be reading from (or starting) the child: signal it so that call returns.
        while not self._lock.acquire(timeout=0.1):
            proc = self._proc
            if proc is not None:
                _signal(proc, signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL)
        try:
            self._stop_child()
        finally:
            self._lock.release()

    # ----- helpers (called with the lock held) ---------------------------------------

    def _next_frame(self, proc: subprocess.Popen[bytes], selector: selectors.BaseSelector, timeout_s: float,
                    starting: bool = False) -> RawFrame:
        fd = self._fd
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                what = "sent no first frame" if starting else "sent no frame"
                raise CameraUnavailable(f"{self.description}: {self._program} {what} for {timeout_s:.0f} s"
                                        f"{self._tail()}")
            if not selector.select(left):
                continue
            chunk = os.read(fd, _READ_BYTES)
            if not chunk:
                raise CameraUnavailable(self._ended(proc))
            images = self._splitter.feed(chunk)
            if not images:
                continue
            images += self._read_ahead(fd, selector)
            self.skipped += len(images) - 1
            t = time.monotonic()
            bgr = cv2.imdecode(np.frombuffer(images[-1], np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                self.undecodable += 1
                log.warning("%s: a frame OpenCV cannot decode (%d bytes) skipped", self.description, len(images[-1]))
                continue
            return RawFrame(bgr, t)

    def _read_ahead(self, fd: int, selector: selectors.BaseSelector) -> list[bytes]:
        """Whole frames that have already arrived (read without waiting): newer ones win over older."""
        images: list[bytes] = []
        budget = _DRAIN_BYTES
        while budget > 0 and selector.select(0):
            chunk = os.read(fd, _READ_BYTES)
            if not chunk:  # end of stream: the next read reports it
                break
            budget -= len(chunk)
            images += self._splitter.feed(chunk)
        return images

    def _ended(self, proc: subprocess.Popen[bytes]) -> str:
        """The message for a child whose output ended."""
        try:
            code = proc.wait(self.grace_s)
        except subprocess.TimeoutExpired:
            return f"{self.description}: {self._program} closed its output but did not exit{self._tail()}"
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)  # its last lines come after the exit
        how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
        return f"{self.description}: {self._program} {how}{self._tail()}"

    def _tail(self) -> str:
        lines = [line for line in self._stderr if line.strip()][-3:]
        if not lines:
            return ""
        text = " | ".join(lines)
        return f"; its last messages: {text[-400:]}"

    def _stop_child(self) -> None:
        proc, self._proc = self._proc, None
        self._pending = None
        if proc is None:
            return
        if proc.poll() is None:
            _signal(proc, signal.SIGTERM)
            try:
                proc.wait(self.grace_s)
            except subprocess.TimeoutExpired:
                log.warning("%s: %s (pid %d) did not stop within %.0f s of SIGTERM; killing it",
                            self.description, self._program, proc.pid, self.grace_s)
                _signal(proc, signal.SIGKILL)
                proc.wait()
        if self._selector is not None:
            self._selector.close()
            self._selector, self._fd = None, -1
        if proc.stdout is not None:
            proc.stdout.close()
        thread = self._stderr_thread
        if thread is not None:
            thread.join(1.0)
            if not thread.is_alive() and proc.stderr is not None:
                proc.stderr.close()  # a reader still blocked on it (a grandchild holds it) keeps it open
        log.debug("%s: %s (pid %d) ended with status %s", self.description, self._program, proc.pid, proc.returncode)


def _find_program() -> str:
    for name in EXECUTABLES:
        path = shutil.which(name)
        if path:
            return path
    raise CameraUnavailable("the Raspberry Pi camera source needs rpicam-vid, which is not on PATH: "
                            "`sudo apt install rpicam-apps` (Raspberry Pi OS) or `bash scripts/setup.sh --picamera`")


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` unless the child is already reaped (its pid may then belong to another process)."""
    with contextlib.suppress(OSError):  # ProcessLookupError included
        proc.send_signal(sig)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _drain_stderr(stream: IO[bytes], lines: collections.deque[str], pid: int) -> None:
    """Read the child's stderr to its end, keeping the last lines (secrets hidden, control characters escaped)."""
    try:
        for raw in iter(lambda: stream.readline(4096), b""):
            text = one_line(redact_text(raw.decode("utf-8", "replace").rstrip("\r\n")))
            if text.strip():
                lines.append(text)
                log.debug("rpicam-vid[%d]: %s", pid, text)
    except (OSError, ValueError):  # closed under us at shutdown
        pass
