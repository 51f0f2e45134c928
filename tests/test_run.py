"""`facecam run` end to end on the real hamilton clip, the demo, and clean shutdown on signals."""

import json
import signal
import subprocess
import sys
import time

import pytest

from camera.cores import cpu_cores
from camera.gallery.store import Gallery
from tests.conftest import AGEITGEY, HAMILTON, REPO, facecam


@pytest.fixture(scope="module")
def household(tmp_path_factory):
    root = tmp_path_factory.mktemp("household")
    r = facecam("enroll", "--data-dir", str(root), "--from-dir", str(AGEITGEY / "identities"))
    assert r.returncode == 0, r.stdout + r.stderr  # lin_manuel_miranda, alex_lacamoire, obama (8 photos)
    return root


@pytest.fixture(scope="module")
def hamilton_run(household, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "alerts.jsonl"
    r = facecam("run", "--data-dir", str(household), "--source", str(HAMILTON), "--jsonl", str(out), timeout=600)
    return r, [json.loads(line) for line in out.read_text().splitlines()]


def test_hamilton_clip_names_lin_manuel_miranda_and_exits_0(hamilton_run):
    r, alerts = hamilton_run
    assert r.returncode == 0, r.stderr[-2000:]
    named = {a["person"] for a in alerts if a["known"]}
    assert "lin_manuel_miranda" in named
    assert named <= {"lin_manuel_miranda", "alex_lacamoire"}, named  # obama is enrolled but not in the clip
    assert "275 frames" in r.stderr
    # one visit: his two appearances are 2 s apart, well within the cooldown and the absence before "left"
    assert [a["person"] for a in alerts if a["kind"] == "arrived"] == ["lin_manuel_miranda"]


def test_alert_payload_fields(hamilton_run):
    _, alerts = hamilton_run
    a = next(x for x in alerts if x["person"] == "lin_manuel_miranda")
    assert set(a) >= {"id", "camera", "time", "person", "distance", "box", "snapshot"}
    assert a["camera"] == "default" and a["time"].endswith("Z") and len(a["box"]) == 4
    assert a["kind"] == "arrived" and a["known"] and 0 <= a["distance"] <= 0.6
    assert a["extra"]["event"] and all(x["kind"] in {"arrived", "left", "recognised"} for x in alerts)
    assert len({x["id"] for x in alerts}) == len(alerts)


def test_missing_source_and_dead_rtsp_fail_in_one_line(household):
    before = Gallery(household).counts()
    for source, message in [("/no/such/clip.mp4", "no such file, folder or device"),
                            ("rtsp://127.0.0.1:9/stream", "cannot open stream rtsp://127.0.0.1:9/stream")]:
        t = time.monotonic()
        r = facecam("run", "--data-dir", str(household), "--source", source, timeout=60)
        assert r.returncode == 2
        errors = [line for line in r.stderr.splitlines() if line.startswith("facecam: error:")]
        assert len(errors) == 1 and message in errors[0], r.stderr
        assert time.monotonic() - t < 30
    assert Gallery(household).counts() == before


def test_no_camera_configured(tmp_path):
    r = facecam("run", "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "no camera to run" in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_with_status_0(household, tmp_path, sig):
    out = tmp_path / "alerts.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "camera", "run", "--data-dir", str(household), "--source",
                             str(HAMILTON), "--jsonl", str(out), "--cooldown", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert f"received {sig.name}, stopping" in err
    frames = int(err.split(" frames (")[0].rsplit(" ", 1)[1])
    assert 0 < frames < 275  # stopped before the end of the clip
    for line in out.read_text().splitlines():  # the file was closed whole: every line is JSON
        json.loads(line)


def test_demo_prints_an_alert_for_the_enrolled_person():
    r = facecam("demo", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    alerts = [json.loads(line) for line in r.stdout.splitlines()]
    assert alerts and all(a["person"] == "eileen_collins" for a in alerts)


def test_two_cameras_run_on_two_inference_threads_and_each_names_lin(household, tmp_path):
    """With the onnx engine, cameras are shared out among one inference thread per core (camera/pipeline.py),
    each model running on the cores shared out (camera/cores.py); both threads share the visit book."""
    config = tmp_path / "facecam.toml"
    config.write_text("".join(f'[cameras.{c}]\nsource = "{HAMILTON}"\nrealtime = false\n\n' for c in ("door", "yard")))
    out = tmp_path / "alerts.jsonl"
    r = facecam("run", "--config", str(config), "--data-dir", str(household), "--jsonl", str(out), timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    for cam in ("door", "yard"):
        named = {a["person"] for a in alerts if a["camera"] == cam and a["known"]}
        assert "lin_manuel_miranda" in named and named <= {"lin_manuel_miranda", "alex_lacamoire"}, (cam, named)
        assert f"{cam}: 275 frames" in r.stderr
    # one arrival for the household: the second camera to name him finds him home already
    assert [a["person"] for a in alerts if a["kind"] == "arrived"] == ["lin_manuel_miranda"]
    if cpu_cores() >= 2:
        assert "inference on 2 threads, door; yard" in r.stderr
