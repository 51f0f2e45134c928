"""The ``picamera`` source: rpicam-vid as a supervised child, its MJPEG stream cut into frames.

There is no Pi camera here, so a stand-in ``rpicam-vid`` (a Python script
this file writes into tmp_path and puts first on PATH) plays the real hamilton
clip as MJPEG on its standard output, at the size and frame rate it is asked
for, refusing options rpicam-vid would not take. The stand-in is the only
fake: facecam's real adapter, capture worker and ``facecam run`` are under
test. ``STANDIN_PLAN`` says what each start of it does, in order (the last
entry repeats): ``normal``; ``die:K`` (K frames, then a message on stderr and
exit 255, as rpicam-vid exits on an error); ``stall:K`` (K frames, then
silence, still running); ``stall-ignore-term:K`` (the same, and it ignores
SIGTERM); ``fail`` (no camera: exits at once, like rpicam-vid with no camera
connected). Each start appends its pid and argv to ``STANDIN_LOG``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.capture import CaptureWorker, open_source
from camera.capture.mjpeg import JpegSplitter
from camera.capture.rpicam import RpicamSource
from camera.errors import CameraUnavailable
from tests.conftest import AGEITGEY, HAMILTON, REPO, facecam

STANDIN = '''#!{python}
"""Stand-in for rpicam-vid: the hamilton clip as MJPEG on stdout (tests/test_rpicam.py)."""
import argparse, json, os, signal, sys, time
import cv2

p = argparse.ArgumentParser()
p.add_argument("--camera", type=int, default=0)
p.add_argument("--width", type=int, default=0)
p.add_argument("--height", type=int, default=0)
p.add_argument("--framerate", type=float, default=-1.0)
p.add_argument("--codec", default="h264")
p.add_argument("-q", "--quality", type=int, default=50)
p.add_argument("-t", "--timeout", default="5sec")
p.add_argument("-n", "--nopreview", action="store_true")
p.add_argument("--flush", action="store_true")
p.add_argument("-o", "--output")
a = p.parse_args()
with open(os.environ["STANDIN_LOG"], "a+") as f:
    f.seek(0)
    start = len(f.read().splitlines())
    f.write(json.dumps({{"pid": os.getpid(), "argv": sys.argv[1:]}}) + "\\n")
plan = os.environ.get("STANDIN_PLAN", "normal").split(",")
kind, _, k = plan[min(start, len(plan) - 1)].partition(":")
k = int(k or 0)
if a.codec != "mjpeg" or a.output != "-" or a.timeout != "0" or a.framerate <= 0:
    sys.exit("ERROR: *** stand-in: expected --codec mjpeg --output - --timeout 0 and a frame rate ***")
print("[0:00:00.123] [42] INFO Camera camera_manager.cpp:326 libcamera v0.5.0 (stand-in)", file=sys.stderr, flush=True)
if kind == "fail":
    print("ERROR: *** no cameras available ***", file=sys.stderr)
    sys.exit(255)
if kind == "stall-ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
cap = cv2.VideoCapture({clip!r})
exif = os.environ.get("STANDIN_EXIF") == "1"
out = sys.stdout.buffer
sent, next_t = 0, time.monotonic()
try:
    while True:
        if kind == "die" and sent == k:
            print("ERROR: *** stand-in: camera frontend has timed out ***", file=sys.stderr)
            sys.exit(255)
        if kind.startswith("stall") and sent == k:
            while True:
                time.sleep(1)
        ok, bgr = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        if a.width and a.height and bgr.shape[:2] != (a.height, a.width):
            bgr = cv2.resize(bgr, (a.width, a.height))
        data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, a.quality])[1].tobytes()
        if exif:  # an APP1 segment holding a thumbnail JPEG: its own FF D8 ... FF D9 inside the frame
            thumb = cv2.imencode(".jpg", cv2.resize(bgr, (64, 36)))[1].tobytes()
            body = b"Exif\\0\\0" + thumb
            data = data[:2] + b"\\xff\\xe1" + (len(body) + 2).to_bytes(2, "big") + body + data[2:]
        out.write(data)
        if a.flush:
            out.flush()
        sent += 1
        next_t += 1 / a.framerate
        time.sleep(max(0.0, next_t - time.monotonic()))
except BrokenPipeError:
    sys.exit(1)
'''


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """A stand-in ``rpicam-vid`` first on PATH; returns a function that lists its starts (pid, argv)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "rpicam-vid"
    exe.write_text(STANDIN.format(python=sys.executable, clip=str(HAMILTON)))
    exe.chmod(0o755)
    log = tmp_path / "standin.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_LOG", str(log))
    monkeypatch.delenv("STANDIN_PLAN", raising=False)

    def starts() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    starts.bin_dir = bin_dir  # type: ignore[attr-defined]
    return starts


def zombies_of(parent: int) -> list[int]:
    """Children of ``parent`` in state Z (exited, never reaped), read from /proc/*/stat."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        state, ppid = text.rsplit(")", 1)[1].split()[:2]
        if state == "Z" and int(ppid) == parent:
            found.append(int(stat.parent.name))
    return found


def gone(pid: int, within_s: float = 5.0) -> bool:
    """True once ``pid`` no longer exists (reaped, not a zombie nor running)."""
    deadline = time.monotonic() + within_s
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def capturing(src: RpicamSource):
    """A started capture worker on ``src``; stopped and joined (which closes ``src``) on the way out."""
    stop = threading.Event()
    worker = CaptureWorker(src, "door", stop)
    worker.start()
    try:
        yield worker
    finally:
        stop.set()
        worker.join()


def drain(worker: CaptureWorker, until, timeout_s: float = 30.0) -> list:
    frames: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(frames):
        f = worker.get(0.1)
        if f is not None:
            frames.append(f)
    return frames


# ----- the MJPEG splitter: pure, table tests ---------------------------------------------------------------

def _jpeg(seed: int, params: tuple[int, ...] = (), size: tuple[int, int] = (48, 32)) -> bytes:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)  # noise: many FF bytes stuffed as FF 00
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95, *params])[1].tobytes()


def _with_exif_thumbnail(jpg: bytes) -> bytes:
    body = b"Exif\0\0" + _jpeg(99, size=(16, 16))
    return jpg[:2] + b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body + jpg[2:]


def _with_fill_bytes(jpg: bytes) -> bytes:
    return jpg[:2] + b"\xff\xff\xff" + jpg[2:]  # T.81: any marker may be preceded by fill bytes


PLAIN = [_jpeg(i) for i in range(3)]
RESTARTS = [_jpeg(i, (cv2.IMWRITE_JPEG_RST_INTERVAL, 1)) for i in range(3)]
PROGRESSIVE = [_jpeg(i, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)) for i in range(3)]
EXIF = [_with_exif_thumbnail(j) for j in PLAIN]
FILL = [_with_fill_bytes(j) for j in PLAIN]


@pytest.mark.parametrize(("stream", "expected", "garbage", "broken"), [
    (b"".join(PLAIN), PLAIN, 0, 0),
    (b"".join(RESTARTS), RESTARTS, 0, 0),  # FF D0..D7 inside the scan are not the end
    (b"".join(PROGRESSIVE), PROGRESSIVE, 0, 0),  # several scans, tables between them
    (b"".join(EXIF), EXIF, 0, 0),  # the thumbnail's FF D9 inside APP1 is not the end
    (b"".join(FILL), FILL, 0, 0),
    (b"junk\xff\x00" + b"".join(PLAIN), PLAIN, 6, 0),  # bytes before the first SOI
    (PLAIN[0][:500] + b"".join(PLAIN[1:]), PLAIN[1:], 0, 1),  # cut short: dropped at the next SOI
    # a segment length below 2: the rest of that image is dropped (as garbage when it arrives after the error)
    (PLAIN[0][:4] + b"\x00\x01" + PLAIN[0][6:] + PLAIN[1], PLAIN[1:2], None, 1),
    (b"".join(PLAIN)[:-1], PLAIN[:2], 0, 0),  # the last image is not complete yet
], ids=["plain", "restart-markers", "progressive", "exif-thumbnail", "fill-bytes", "leading-garbage",
        "truncated", "bad-length", "incomplete"])
@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_splitter_cuts_whole_images_whatever_the_chunking(stream, expected, garbage, broken, chunk):
    splitter = JpegSplitter()
    images = []
    for i in range(0, len(stream), chunk):
        images += splitter.feed(stream[i:i + chunk])
    assert images == expected
    assert splitter.stats.broken == broken and garbage in (None, splitter.stats.garbage_bytes)
    assert all(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) is not None for j in images)


def test_splitter_drops_a_stream_with_no_end_in_sight():
    splitter = JpegSplitter(max_bytes=10_000)
    assert splitter.feed(PLAIN[0][:-2] + bytes(20_000)) == []
    assert splitter.stats.broken == 1 and splitter.pending_bytes == 0
    assert splitter.feed(PLAIN[1]) == [PLAIN[1]]  # and finds the next image


# ----- the source and the capture worker, with the stand-in ------------------------------------------------

def test_frames_flow_at_the_requested_size_with_the_documented_options(standin):
    src = RpicamSource(1, width=640, height=360, framerate=30)
    with capturing(src) as worker:
        frames = drain(worker, lambda fs: len(fs) >= 10)
    assert len(frames) >= 10
    assert all(f.rgb.shape == (360, 640, 3) and f.rgb.flags.c_contiguous for f in frames)
    assert all(b.timestamp_s > a.timestamp_s for a, b in zip(frames, frames[1:], strict=False))
    [start] = standin()
    assert start["argv"] == ["--camera", "1", "--width", "640", "--height", "360", "--framerate", "30",
                             "--codec", "mjpeg", "--quality", "80", "--timeout", "0", "--nopreview", "--flush",
                             "--output", "-"]
    assert gone(start["pid"]) and src.pid is None


def test_picamera_is_rpicam_by_default_and_picamera2_stays_an_option(standin):
    src = open_source("picamera:2")
    assert isinstance(src, RpicamSource) and (src.index, src.width, src.height, src.framerate) == (2, 1280, 720, 15)
    src.open()
    try:
        raw = src.read()
    finally:
        src.close()
    assert raw.bgr.shape == (720, 1280, 3)
    assert type(open_source("picamera2")).__name__ == "PiCameraSource"
    with pytest.raises(CameraUnavailable, match="expected picamera2 or picamera2:N"):
        open_source("picamera2:x")


def test_exif_thumbnails_in_the_stream_do_not_cut_frames(standin, monkeypatch):
    monkeypatch.setenv("STANDIN_EXIF", "1")
    src = RpicamSource(width=320, height=180, framerate=30)
    src.open()
    try:
        shapes = [src.read().bgr.shape for _ in range(5)]
    finally:
        src.close()
    assert shapes == [(180, 320, 3)] * 5 and src._splitter.stats.broken == 0


def test_a_child_that_dies_mid_stream_is_restarted_and_reaped(standin, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("STANDIN_PLAN", "die:8,normal")
    src = RpicamSource(width=320, height=180, framerate=30)
    with capturing(src) as worker:
        frames = drain(worker, lambda fs: worker.stats.reconnects >= 1 and len(fs) >= 15)
        assert zombies_of(os.getpid()) == []
    assert worker.stats.reconnects == 1 and len(standin()) == 2 and len(frames) >= 15
    assert ("door: Raspberry Pi camera 0 (rpicam-vid): rpicam-vid exited with status 255; its last messages: "
            in caplog.text)
    assert "camera frontend has timed out" in caplog.text and "door: reconnected to" in caplog.text
    assert all(gone(s["pid"]) for s in standin())


def test_a_killed_child_is_restarted(standin):
    src = RpicamSource(width=320, height=180, framerate=30)
    with capturing(src) as worker:
        drain(worker, lambda fs: len(fs) >= 3)
        first = src.pid
        os.kill(first, signal.SIGKILL)
        frames = drain(worker, lambda fs: src.pid not in (None, first) and len(fs) >= 5)
        assert len(frames) >= 5 and worker.stats.reconnects == 1
        assert gone(first) and zombies_of(os.getpid()) == []
    assert [s["pid"] for s in standin()][0] == first and len(standin()) == 2


def test_a_stalled_child_is_detected_killed_and_restarted(standin, monkeypatch, caplog):
    monkeypatch.setenv("STANDIN_PLAN", "stall:3,normal")
    src = RpicamSource(width=320, height=180, framerate=30, stall_timeout_s=1.0)
    with capturing(src) as worker:
        frames = drain(worker, lambda fs: worker.stats.reconnects >= 1 and len(fs) >= 8)
    assert len(frames) >= 8
    assert "rpicam-vid sent no frame for 1 s" in caplog.text
    assert all(gone(s["pid"]) for s in standin()) and zombies_of(os.getpid()) == []


def test_close_kills_a_child_that_ignores_sigterm(standin, monkeypatch):
    monkeypatch.setenv("STANDIN_PLAN", "stall-ignore-term:2")
    src = RpicamSource(width=320, height=180, framerate=30, grace_s=0.5)
    src.open()
    pid = src.pid
    t = time.monotonic()
    src.close()
    assert time.monotonic() - t < 3
    assert gone(pid) and zombies_of(os.getpid()) == []
    src.close()  # twice is fine


def test_close_from_another_thread_ends_a_blocked_read(standin, monkeypatch):
    """Shutdown while the capture thread waits on a stalled child: close() must not wait out the stall."""
    monkeypatch.setenv("STANDIN_PLAN", "stall:2")
    src = RpicamSource(width=320, height=180, framerate=30, stall_timeout_s=60, grace_s=1)
    src.open()
    src.read(), src.read()
    errors: list[Exception] = []

    def reader():
        try:
            src.read()
        except CameraUnavailable as exc:
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    src.close()
    t.join(5)
    assert time.monotonic() - started < 5 and not t.is_alive()
    assert errors and "was killed by SIG" in str(errors[0])  # SIGTERM, or SIGKILL on a very slow machine
    assert src.pid is None and zombies_of(os.getpid()) == []


def test_no_camera_fails_at_open_with_rpicam_vids_message(standin, monkeypatch):
    monkeypatch.setenv("STANDIN_PLAN", "fail")
    src = RpicamSource()
    with pytest.raises(CameraUnavailable) as err:
        src.open()
    assert ("Raspberry Pi camera 0 (rpicam-vid): rpicam-vid exited with status 255; its last messages: "
            in str(err.value)) and str(err.value).endswith("ERROR: *** no cameras available ***")
    assert "\n" not in str(err.value)
    assert gone(standin()[0]["pid"]) and src.pid is None


def test_missing_rpicam_vid_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CameraUnavailable, match=r"needs rpicam-vid, which is not on PATH: `sudo apt install rpicam-apps`"):
        RpicamSource().open()


def test_older_images_libcamera_vid_is_used(standin):
    exe = standin.bin_dir / "rpicam-vid"
    exe.rename(standin.bin_dir / "libcamera-vid")
    src = RpicamSource(width=320, height=180)
    src.open()
    try:
        assert src.read().bgr.shape == (180, 320, 3)
    finally:
        src.close()
    assert len(standin()) == 1


# ----- facecam run --source picamera ---------------------------------------------------------------------

def test_facecam_run_names_lin_through_the_pi_camera_survives_a_crash_and_stops_its_child(standin, tmp_path):
    data = tmp_path / "data"
    r = facecam("enroll", "--data-dir", str(data), "lin_manuel_miranda",
                *sorted(str(p) for p in (AGEITGEY / "identities" / "lin_manuel_miranda").iterdir()))
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "STANDIN_PLAN": "die:20,normal"}  # the first child dies 1.3 s in
    proc = subprocess.Popen([sys.executable, "-m", "camera", "run", "--data-dir", str(data), "--source", "picamera",
                             "--jsonl", "-", "--cooldown", "0"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    alerts: list[dict] = []
    reader = threading.Thread(target=lambda: alerts.extend(json.loads(line) for line in proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (any(a["person"] == "lin_manuel_miranda" for a in alerts)
                                                   and len(standin()) >= 2):
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            time.sleep(0.2)
        starts = standin()
        assert len(starts) == 2, starts  # the crash was followed by a new child
        assert zombies_of(proc.pid) == []
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert any(a["person"] == "lin_manuel_miranda" and a["known"] for a in alerts), alerts
    assert "rpicam-vid exited with status 255" in err and "reconnected to Raspberry Pi camera 0" in err
    assert all(gone(s["pid"]) for s in standin()), "an rpicam-vid child outlived facecam"


def test_the_pi_owners_smoke_script_reports_size_and_fps(standin):
    r = subprocess.run([sys.executable, "scripts/pi_camera_smoke.py", "--seconds", "1.5"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Raspberry Pi camera 0 (rpicam-vid): opened in ") and " frames of 1280x720 in " in r.stdout
    assert " fps" in r.stdout and "starts: 1" in r.stdout


def test_picamera2_built_for_another_numpy_is_a_clear_one_line_error(tmp_path, monkeypatch):
    """Debian bookworm's picamera2 under numpy 2 (picamera2 issue #1211): simplejpeg raises ValueError on import."""
    fake = tmp_path / "picamera2"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise ValueError("numpy.dtype size changed, may indicate binary '
                                      'incompatibility. Expected 96 from C header, got 88 from PyObject")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    with pytest.raises(CameraUnavailable, match=r"picamera2 does not load with numpy .*use the source picamera"):
        open_source("picamera2").open()
