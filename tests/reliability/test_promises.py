"""Promises the README makes that no other test held: power-cut safe commits, the MQTT password only from the
environment, localhost by default, and owner-only files for every command that writes faces."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from camera.alerts.outbox import Outbox
from camera.events.store import EventStore
from tests.alerts_support import Mosquitto, RecordingSink, Subscriber, free_port, needs_mosquitto, wait_until
from tests.conftest import AGEITGEY, HAMILTON, REPO, WITH_STRANGERS, facecam
from tests.reliability.support import FAST_VISITS, poll

ALEX_DIR = AGEITGEY / "identities" / "alex_lacamoire"
LIN_PHOTO = next(iter(sorted((AGEITGEY / "identities" / "lin_manuel_miranda").iterdir())))
SECRET = "s3cret-mqtt-pw"


def test_alerts_and_events_commit_with_a_full_sync(tmp_path: Path) -> None:
    """"Never lost to a power cut": WAL alone survives a kill -9; a power cut also needs every commit synced
    (``synchronous=FULL``), which is a setting of each connection, so it is checked on the ones facecam opens."""
    outbox = Outbox(tmp_path / "outbox.sqlite3", [RecordingSink()])
    try:
        assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        outbox.close()
    with EventStore(tmp_path) as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def _mqtt_config(tmp_path: Path, port: int, extra: str = 'password_env = "FACECAM_MQTT_PASSWORD"\n') -> Path:
    config = tmp_path / "mqtt.toml"
    config.write_text(f'{FAST_VISITS}[[alerts.mqtt]]\nhost = "127.0.0.1"\nport = {port}\nusername = "facecam"\n'
                      f"{extra}")
    return config


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facecam: error:") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_a_password_written_in_the_config_is_refused(tmp_path: Path) -> None:
    config = _mqtt_config(tmp_path, 1883, f'password = "{SECRET}"\n')
    for argv in (["check-config", str(config)], ["run", "--config", str(config), "--source", str(ALEX_DIR),
                                                  "--data-dir", str(tmp_path / "data")]):
        line = _one_error_line(facecam(*argv))
        assert "password" in line and "unknown key" in line and SECRET not in line, line
    assert not (tmp_path / "data").exists()


def test_password_env_not_set_is_one_line_naming_the_variable(tmp_path: Path, data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FACECAM_MQTT_PASSWORD"}
    r = subprocess.run([sys.executable, "-m", "camera", "run", "--config", str(_mqtt_config(tmp_path, 1883)),
                        "--source", str(ALEX_DIR), "--data-dir", str(data_dir)], capture_output=True,
                       text=True, timeout=120, cwd=REPO, env=env)
    assert "FACECAM_MQTT_PASSWORD (password_env) is not set" in _one_error_line(r)


@needs_mosquitto
def test_the_broker_password_comes_from_the_environment_and_is_never_written(tmp_path: Path,
                                                                             data_dir: Path) -> None:
    """A broker that admits only ``facecam`` with its password: the daemon, given the password in the
    environment variable ``password_env`` names, delivers its alerts; the password is in no log line, no
    status and no file of the data directory."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd missing: apt-get install -y mosquitto")
    passwd = tmp_path / "passwd"
    subprocess.run([tool, "-b", "-c", str(passwd), "facecam", SECRET], check=True, capture_output=True)
    broker = Mosquitto(tmp_path, password_file=passwd).start()
    sub = Subscriber(broker.port, ["facecam/#"], username="facecam", password=SECRET).wait_subscribed()
    try:
        r = facecam("run", "--config", str(_mqtt_config(tmp_path, broker.port)), "--data-dir", str(data_dir),
                    "--source", str(HAMILTON), "-v", env={"FACECAM_MQTT_PASSWORD": SECRET})
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
        wait_until(lambda: bool(sub.event_ids()), 10, "an alert through the password-protected broker")
        status = facecam("status", "--data-dir", str(data_dir))
        assert "sink mqtt:" in status.stdout and "0 queued" in status.stdout, status.stdout
        assert SECRET not in r.stdout + r.stderr + status.stdout + status.stderr
        for f in data_dir.rglob("*"):
            assert not f.is_file() or SECRET.encode() not in f.read_bytes(), f
    finally:
        sub.close()
        broker.stop()


def _listening(port: int) -> set[str]:
    """The local addresses (hex, as the kernel writes them) of the TCP sockets listening on ``port``."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in list(f)[1:]:
                local, _remote, state = row.split()[1:4]
                address, _, hex_port = local.rpartition(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    out.add(address)
    return out


@pytest.mark.parametrize("how", ["--web PORT", "[web] without host"])
def test_the_web_app_listens_on_localhost_only_by_default(how: str, tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    if how == "--web PORT":
        args = ["--web", str(port)]
    else:
        config = tmp_path / "web.toml"
        config.write_text(f"[web]\nenabled = true\nport = {port}\n")
        args = ["--config", str(config)]
    proc = subprocess.Popen([sys.executable, "-m", "camera", "web", "--data-dir", str(data_dir), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        poll(lambda: bool(_listening(port)) or proc.poll() is not None, 60, "the web app to listen")
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, and nothing else (no 0.0.0.0, no ::)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0 and "Traceback" not in out, out


def _not_private(root: Path) -> dict[str, str]:
    """Files of ``root`` (itself included) that anyone but the owner may read: all must be 0600 or 0700."""
    modes = {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}
    return {p: oct(m) for p, m in modes.items() if m & 0o077 or (m & 0o700) not in (0o600, 0o700)}


@pytest.fixture()
def permissive_umask() -> Iterator[None]:
    """This process and its children create files under umask 022 (readable by everyone unless facecam
    says otherwise), as on a desktop where a user runs facecam by hand."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("permissive_umask")
def test_enrol_label_and_web_uploads_keep_every_file_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = facecam("enroll", "--data-dir", str(data), "lin_manuel_miranda", str(LIN_PHOTO))
    assert r.returncode == 0, r.stderr
    assert not _not_private(data), _not_private(data)

    config = tmp_path / "c.toml"  # the run's own files were checked elsewhere; here it records visits to label
    config.write_text(FAST_VISITS)
    r = facecam("run", "--config", str(config), "--data-dir", str(data), "--source", str(HAMILTON), *WITH_STRANGERS)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(f"file:{data / 'events.sqlite3'}?mode=ro", uri=True) as db:
        unknown = [row[0] for row in db.execute("SELECT id FROM events WHERE person = 'unknown' ORDER BY quality DESC")]
    for event_id in unknown:  # the first whose crop enrols (not a profile, nor two faces of the audience: exit 1)
        r = facecam("label", "--data-dir", str(data), event_id, "alex_lacamoire")
        if r.returncode == 0:
            break
        assert r.returncode == 1 and "0 of 1 photos enrolled" in r.stderr, r.stderr
    assert r.returncode == 0, r.stderr
    assert not _not_private(data), _not_private(data)

    r = facecam("user", "add", "alice", "--data-dir", str(data), "--password-stdin", input="correct horse battery\n")
    assert r.returncode == 0, r.stderr
    token = facecam("token", "create", "--user", "alice", "--label", "t", "--data-dir", str(data)).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "camera", "web", "--data-dir", str(data), "--web", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        poll(lambda: bool(_listening(port)) or proc.poll() is not None, 60, "the web app to listen")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            photo = next(p for p in sorted(ALEX_DIR.iterdir()))
            r = client.post("/api/v1/people", data={"name": "alex upload"},
                            files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")})
            assert r.status_code == 201, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    with sqlite3.connect(f"file:{data / 'gallery.sqlite3'}?mode=ro", uri=True) as db:
        people = {n for (n,) in db.execute("SELECT name FROM people")}
    assert people == {"lin_manuel_miranda", "alex_lacamoire", "alex upload"}, json.dumps(sorted(people))
    assert not _not_private(data), _not_private(data)
