"""A real facecam with its web app on 127.0.0.1, for the web tests: the daemon on the looped hamilton clip
(``facecam run --loop --web``), or ``facecam web`` without cameras, each on a data directory with
lin_manuel_miranda and alex_lacamoire enrolled, an account and an API token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import AGEITGEY, HAMILTON, REPO, WITH_STRANGERS, facecam

USER, PASSWORD = "alice", "correct horse battery"


@dataclass(frozen=True)
class WebApp:
    """A running web app: its base URL, data directory, process, and an API token of :data:`USER`."""

    url: str
    data: Path
    proc: subprocess.Popen
    token: str

    def client(self) -> httpx.Client:
        """A client without credentials."""
        return httpx.Client(base_url=self.url, timeout=30)

    def session(self) -> tuple[httpx.Client, str]:
        """A client logged in as :data:`USER` (session cookie) and its CSRF token."""
        c = self.client()
        r = c.post("/api/v1/login", json={"user": USER, "password": PASSWORD})
        r.raise_for_status()
        return c, r.json()["csrf"]

    def bearer(self) -> httpx.Client:
        """A client that sends the API token."""
        return httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.token}"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_data(data: Path) -> str:
    """Enrol the clip's two people into ``data``, add :data:`USER` and return a new API token."""
    for name in ("lin_manuel_miranda", "alex_lacamoire"):
        r = facecam("enroll", "--data-dir", str(data), name, *map(str, (AGEITGEY / "identities" / name).iterdir()))
        assert r.returncode == 0, r.stderr
    r = facecam("user", "add", USER, "--data-dir", str(data), "--password-stdin", input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    r = facecam("token", "create", "--user", USER, "--label", "tests", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def start(args: list[str], data: Path, token: str, port: int, timeout_s: float = 120) -> WebApp:
    """Start ``python -m camera ARGS`` and wait until its web app answers."""
    log = (data / f"web-{port}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "camera", *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {proc.returncode}: {(data / f'web-{port}.log').read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/v1/openapi.json", timeout=2).status_code == 200:
                return WebApp(url, data, proc, token)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the web app on {url} did not answer within {timeout_s} s")


def stop(app: WebApp) -> None:
    if app.proc.poll() is None:
        app.proc.send_signal(signal.SIGTERM)
        try:
            app.proc.wait(30)
        except subprocess.TimeoutExpired:
            app.proc.kill()
            app.proc.wait()


@pytest.fixture(scope="session")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    data = tmp_path_factory.mktemp("web") / "data"
    return data, prepare_data(data)


@pytest.fixture(scope="session")
def daemon(web_data: tuple[Path, str]) -> Iterator[WebApp]:
    """``facecam run --web`` on the hamilton clip, looped in real time (the live view stays up)."""
    data, token = web_data
    port = free_port()
    app = start(["run", "--data-dir", str(data), "--source", str(HAMILTON), "--loop", "--camera", "door",
                 *WITH_STRANGERS, "--web", f"127.0.0.1:{port}"], data, token, port)
    yield app
    stop(app)


@pytest.fixture(scope="session")
def standalone(web_data: tuple[Path, str], daemon: WebApp) -> Iterator[WebApp]:
    """``facecam web`` on the same data directory, beside the daemon (no cameras, no live view)."""
    data, token = web_data
    port = free_port()
    app = start(["web", "--data-dir", str(data), "--web", f"127.0.0.1:{port}"], data, token, port)
    yield app
    stop(app)
