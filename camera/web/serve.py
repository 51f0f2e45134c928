"""The web app started from the command line: the command line's one way into the web stack.

``camera.cli`` imports this module only when it serves the web app (``facecam
run --web``, ``[web] enabled``, ``facecam web``), inside the function that
starts it: fastapi, uvicorn, starlette and the app's routes and schemas take
~14 MB of resident memory that a plain ``facecam run`` never uses (issue 15,
"Memory"). ``tests/test_cli_imports.py`` checks that importing ``camera.cli``
leaves them out.
"""

from __future__ import annotations

from pathlib import Path

from camera.service import Service
from camera.web.accounts import Accounts
from camera.web.app import WebContext
from camera.web.config import WebConfig
from camera.web.feed import AlertSource
from camera.web.live import LiveView
from camera.web.server import WebServer, start_web


def serve(service: Service, accounts: Accounts, cfg: WebConfig, alerts: AlertSource, live: LiveView | None = None,
          config_path: Path | None = None) -> WebServer:
    """Start serving the web app on ``cfg``'s address (see :func:`camera.web.server.start_web`); the caller
    stops the returned server. ``live``: the daemon's live view (``None`` without cameras); ``config_path``:
    the config file the app may write the recommended threshold to."""
    return start_web(WebContext(service, accounts, cfg, alerts, live, config_path))
