"""Frame sources and the capture worker: newest frame wins, drops counted, reconnect with backoff, clean end.

The scripted live source below stands in for camera hardware that is not on
this machine (it fails and recovers on cue); files, folders and OpenCV's
network open run for real.
"""

import logging
import sys
import threading
import time
import types

import numpy as np
import pytest

from camera.capture import CaptureWorker, RawFrame, open_source
from camera.capture.folder import ImageFolderSource
from camera.capture.opencv_sources import LiveCaptureSource, VideoFileSource
from camera.capture.worker import LIVE_QUEUE_FRAMES
from camera.errors import CameraUnavailable
from camera.redact import redact_config, redact_text, redact_url
from tests.conftest import AGEITGEY, HAMILTON


class ScriptedCamera:
    """A live source that yields numbered frames and fails at the given reads (hardware stand-in)."""

    live = True
    description = "scripted camera"

    def __init__(self, fail_at=(), n=None, delay_s=0.0):
        self.fail_at, self.n, self.delay_s = set(fail_at), n, delay_s
        self.reads = self.opens = 0

    def open(self):
        self.opens += 1

    def read(self):
        time.sleep(self.delay_s)
        self.reads += 1
        if self.reads in self.fail_at:
            raise CameraUnavailable("cable pulled")
        if self.n is not None and self.reads > self.n:
            raise CameraUnavailable("gone for good")
        return RawFrame(np.full((4, 4, 3), self.reads % 256, np.uint8), float(self.reads))

    def close(self):
        pass


def _drain(worker, until):
    frames = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not until(frames):
        f = worker.get(0.05)
        if f is not None:
            frames.append(f)
    return frames


def test_slow_consumer_gets_newest_frames_and_drops_are_counted():
    stop = threading.Event()
    w = CaptureWorker(ScriptedCamera(delay_s=0.002), "cam", stop)
    w.start()
    frames = []
    for _ in range(5):
        time.sleep(0.1)  # "inference"
        f = w.get(1.0)
        frames.append(f)
    stop.set()
    w.join()
    assert w.stats.dropped > 10
    assert all(b.index - a.index > 1 for a, b in zip(frames, frames[1:], strict=False))  # skipped ahead


def test_a_live_queue_keeps_the_two_newest_frames_and_counts_the_rest_dropped():
    """Two frames wait, not one: when every camera decides on a new face at once, inference falls a frame behind
    for a moment, and keeping the next frame instead of dropping it is what names a far face in its few frames
    (scripts/bench_capacity.py, docs/performance.md)."""
    stop = threading.Event()
    w = CaptureWorker(ScriptedCamera(n=6, delay_s=0.001), "cam", stop)
    w.start()
    time.sleep(0.3)  # six frames read with nobody taking them; then the source fails and backs off (1 s)
    got = [w.get(0), w.get(0), w.get(0)]
    stop.set()
    w.join()
    assert [f.index for f in got[:2]] == [4, 5] and got[2] is None  # the newest two, oldest first
    assert w.stats.dropped == 4 and LIVE_QUEUE_FRAMES == 2


def test_live_source_reconnects_with_backoff_and_logs(caplog):
    caplog.set_level(logging.INFO)
    cam = ScriptedCamera(fail_at={3})
    stop = threading.Event()
    w = CaptureWorker(cam, "door", stop)
    w.start()
    frames = _drain(w, lambda fs: len(fs) >= 1 and fs[-1].index >= 5)
    stop.set()
    w.join()
    assert cam.opens == 2 and w.stats.reconnects == 1
    assert "door: cable pulled; reconnecting in 1 s" in caplog.text
    assert "door: reconnected to scripted camera" in caplog.text
    assert frames[-1].index >= 5


def test_video_file_is_read_whole_and_ends():
    stop = threading.Event()
    w = CaptureWorker(VideoFileSource(HAMILTON), "clip", stop)
    w.start()
    n = 0
    while True:
        time.sleep(0.001 if n % 50 else 0.05)  # a consumer slower than decoding at times
        f = w.get(2.0)
        if f is None:
            break
        assert f.rgb.shape == (360, 640, 3) and f.rgb.flags.c_contiguous
        n += 1
    w.join()
    assert (n, w.finished, w.stats.dropped) == (275, True, 0)


def test_fps_cap_on_the_video_clock():
    stop = threading.Event()
    w = CaptureWorker(VideoFileSource(HAMILTON), "clip", stop, fps_cap=5)
    w.start()
    ts = []
    while (f := w.get(2.0)) is not None:
        ts.append(f.timestamp_s)
    w.join()
    assert 44 <= len(ts) <= 47  # 275 frames at 29.97 fps is 9.2 s
    assert min(np.diff(ts)) >= 0.19


def test_image_folder_skips_bad_files(tmp_path):
    import shutil

    for p in (AGEITGEY / "knn_examples" / "test").iterdir():
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "broken.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignored")
    src = ImageFolderSource(tmp_path)
    src.open()
    frames = []
    while (raw := src.read()) is not None:
        frames.append(raw)
    assert len(frames) == 5 and src.skipped == 1


@pytest.mark.parametrize(
    ("spec", "kind"),
    [("0", LiveCaptureSource), ("/dev/video7", LiveCaptureSource), ("rtsp://u:p@127.0.0.1/x", LiveCaptureSource),
     ("http://127.0.0.1:8080/video.mjpg", LiveCaptureSource), (str(HAMILTON), VideoFileSource),
     (str(AGEITGEY / "identities" / "obama"), ImageFolderSource)],
)
def test_open_source_picks_the_adapter(spec, kind):
    assert isinstance(open_source(spec), kind)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("/no/such/file.mp4", "no such file, folder or device"), ("", "empty source"),
     ("picamera:x", "expected picamera or picamera:N")],
)
def test_open_source_errors(spec, message):
    with pytest.raises(CameraUnavailable, match=message):
        open_source(spec)


def test_missing_device_and_dead_stream():
    with pytest.raises(CameraUnavailable, match="no such camera device"):
        open_source("/dev/video99").open()
    t = time.monotonic()
    with pytest.raises(CameraUnavailable, match="cannot open stream rtsp://127.0.0.1:9/"):
        open_source("rtsp://127.0.0.1:9/live").open()
    assert time.monotonic() - t < 15


@pytest.mark.parametrize(("url", "expected"), [
    ("rtsp://admin:s3cret@10.0.0.2:554/x", "rtsp://admin:***@10.0.0.2:554/x"),
    # regression: a password holding "@" and "/" leaked its tail ("admin:***@ss/w0rd@")
    ("rtsp://admin:p@ss/w0rd@cam.local/stream1", "rtsp://admin:***@cam.local/stream1"),
    ("http://cam.local/video?user=admin&password=hunter2&fps=5", "http://cam.local/video?user=admin&password=***&fps=5"),
    ("https://h/x?Token=abc&api_key=k&sig=1#frag", "https://h/x?Token=***&api_key=***&sig=***#frag"),
    ("http://127.0.0.1:8123/api/webhook/facecam-secret-id", "http://127.0.0.1:8123/api/webhook/***"),
    ("rtsp://10.0.0.2/stream", "rtsp://10.0.0.2/stream"),
    ("rtsp://onlyuser@10.0.0.2/stream", "rtsp://onlyuser@10.0.0.2/stream"),
    ("/dev/video0", "/dev/video0"),
])
def test_secrets_in_urls_are_redacted(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert redact_text(f"cannot open {url}: timed out") == f"cannot open {expected}: timed out"


def test_config_dumps_hide_urls_and_header_values() -> None:
    dump = {"cameras": {"door": {"source": "rtsp://a:b@c/d"}}, "alerts": {"webhook": [
        {"url": "https://x/y?key=z", "headers": {"Authorization": "Bearer s3cret"}}]}}
    assert redact_config(dump) == {"cameras": {"door": {"source": "rtsp://a:***@c/d"}}, "alerts": {"webhook": [
        {"url": "https://x/y?key=***", "headers": {"Authorization": "***"}}]}}


def test_picamera_adapter_with_a_stand_in_module(monkeypatch):
    """No Pi camera here: a stand-in `picamera2` module checks the adapter's calls and conversion."""
    calls = []

    class Picamera2:
        def __init__(self, index):
            calls.append(("init", index))

        def create_video_configuration(self, main):
            return {"main": main}

        def configure(self, cfg):
            calls.append(("configure", cfg["main"]["size"], cfg["main"]["format"]))

        def start(self):
            calls.append("start")

        def capture_array(self, stream):
            return np.zeros((720, 1280, 4), np.uint8)

        def stop(self):
            calls.append("stop")

        def close(self):
            calls.append("close")

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Picamera2))
    src = open_source("picamera2:1")  # the in-process option; plain "picamera" is rpicam-vid (test_rpicam.py)
    src.open()
    raw = src.read()
    src.close()
    assert raw.bgr.shape == (720, 1280, 3) and raw.bgr.flags.c_contiguous
    assert calls == [("init", 1), ("configure", (1280, 720), "RGB888"), "start", "stop", "close"]


def test_picamera_missing_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(CameraUnavailable, match="needs picamera2"):
        open_source("picamera2").open()
