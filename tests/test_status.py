"""`facecam status`: the daemon's cameras and each sink's queue, read while it runs and after it ended."""

import json

import pytest

from camera.status import StatusWriter, format_status, read_daemon_status
from tests.conftest import AGEITGEY, HAMILTON, facecam


def test_status_after_a_run_shows_cameras_and_sinks(tmp_path):
    data = tmp_path / "data"
    r = facecam("enroll", "--data-dir", str(data), "lin_manuel_miranda",
                str(AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"))
    assert r.returncode == 0, r.stderr
    r = facecam("status", "--data-dir", str(data))
    assert r.returncode == 1 and "never ran" in r.stdout
    alerts = tmp_path / "alerts.jsonl"
    r = facecam("run", "--data-dir", str(data), "--source", str(HAMILTON), "--camera", "hall", "--jsonl", str(alerts))
    assert r.returncode == 0, r.stderr[-2000:]
    n = len(alerts.read_text().splitlines())
    r = facecam("status", "--data-dir", str(data))
    assert r.returncode == 1  # the run has ended
    assert "daemon: not running" in r.stdout
    assert "camera hall:" in r.stdout and "275 frames" in r.stdout and "0 dropped" in r.stdout
    assert f"sink jsonl: 0 queued, {n} delivered" in r.stdout
    saved = json.loads((data / "status.json").read_text())
    assert saved["running"] is False and saved["cameras"]["hall"]["frames"] == 275


def test_a_live_writer_reads_as_running(tmp_path):
    w = StatusWriter(tmp_path, lambda: {"cameras": {"door": {"frames": 5, "fps": 2.5, "dropped": 1}}}, 0.05)
    w.start()
    try:
        st = read_daemon_status(tmp_path)
        assert st.alive and st.cameras["door"].dropped == 1
        text = format_status(st, tmp_path)
        assert "daemon: running" in text and "camera door: 2.5 fps" in text
    finally:
        w.stop()
    assert not read_daemon_status(tmp_path).alive


@pytest.mark.parametrize("content", ["[]", "{", '{"pid": "x", "updated": 3, "cameras": {"a": [1]}}', "\x00\xff"])
def test_a_damaged_status_file_reads_as_unknown_or_stopped_never_an_error(tmp_path, content):
    (tmp_path / "status.json").write_text(content, encoding="latin-1")
    st = read_daemon_status(tmp_path)
    assert st.state in ("unknown", "stopped") and not st.alive
    r = facecam("status", "--data-dir", str(tmp_path))
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stdout.startswith("daemon: ")
