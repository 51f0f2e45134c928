"""The web server in a thread of its own (uvicorn, its own event loop), started and stopped with the daemon."""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn
from fastapi import FastAPI

from camera.errors import FacecamError
from camera.web.app import WebContext, create_app
from camera.web.config import WebConfig

log = logging.getLogger(__name__)


class WebServerError(FacecamError):
    """The web server could not start (address in use, no permission)."""


class WebServer:
    """Serves ``app`` on ``cfg.host:cfg.port`` from a daemon thread; :meth:`start` returns once it listens."""

    def __init__(self, app: FastAPI, cfg: WebConfig) -> None:
        self.cfg = cfg
        config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False,
                                lifespan="off", server_header=False, timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self._error: BaseException | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.cfg.host}]" if ":" in self.cfg.host else self.cfg.host
        return f"http://{host}:{self.port}/"

    @property
    def port(self) -> int:
        """The port it listens on (the real one when the config said 0)."""
        return int(self._sock.getsockname()[1]) if self._sock is not None else self.cfg.port

    def start(self, timeout_s: float = 10.0) -> None:
        """Bind in the caller's thread (so "address in use" is an error here), then serve in the web thread."""
        family = socket.AF_INET6 if ":" in self.cfg.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the listening
        # socket says it is TCP; without it each keep-alive answer waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.cfg.host, self.cfg.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise WebServerError(f"web server cannot listen on {self.cfg.host}:{self.cfg.port}: "
                                 f"{exc.strerror or exc} ([web] host and port, or --web)") from exc
        self._sock = sock
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout_s / 0.05)):
            if self._server.started or self._error is not None or not self._thread.is_alive():
                break
            deadline.wait(0.05)
        if not self._server.started:
            reason = self._error or "it stopped at once"
            raise WebServerError(f"web server cannot listen on {self.cfg.host}:{self.cfg.port}: {reason}")
        log.info("web app on %s", self.url)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock] if self._sock is not None else None)
        except BaseException as exc:  # uvicorn exits through SystemExit when it cannot bind
            self._error = exc


def start_web(ctx: WebContext) -> WebServer:
    """Check the accounts, build the app for ``ctx`` and start serving it.

    Refuses a non-loopback address while no account exists (anyone on the
    network could otherwise reach a login page guarding nothing); on
    loopback without an account it starts and says how to make one.
    """
    users = ctx.accounts.users()
    if not users and not ctx.cfg.loopback:
        raise WebServerError(f"[web] host {ctx.cfg.host!r} is reachable from the network and no account exists: "
                             "create one first with `facecam user add NAME`")
    if not users:
        log.warning("web: no account yet; create one with `facecam user add NAME` to log in")
    server = WebServer(create_app(ctx), ctx.cfg)
    server.start()
    return server
