"""Nothing leaves the machine unless a configured sink sends it: not even a library's usage statistics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, YUNET

LOAD_A_MODEL = """
import sys
from pathlib import Path
from camera.ort import make_session  # the package's own loader, as the daemon uses it
make_session(Path(sys.argv[1]))
"""


def test_onnxruntime_records_and_sends_no_usage_data(tmp_path: Path) -> None:
    """onnxruntime >= 1.29 keeps a device id and an event queue in ~/.cache/Microsoft for upload unless
    ORT_DISABLE_TELEMETRY is set before it loads: importing facecam sets it."""
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    done = subprocess.run([sys.executable, "-c", LOAD_A_MODEL, str(YUNET)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**env, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(tmp_path.rglob("*")), f"files written under HOME: {sorted(tmp_path.rglob('*'))}"


WEB_APP_TELEMETRY = """
import json, sys
from pathlib import Path
from camera.app import engines_for
from camera.config import Config
from camera.service import Service
from camera.web.accounts import Accounts
from camera.web.app import WebContext, create_app
from camera.web.config import WebConfig
from camera.web.feed import OutboxTail
root = Path(sys.argv[1])
with Accounts(root) as accounts:
    app = create_app(WebContext(Service(Config(), root, engines_for(root)), accounts, WebConfig(),
                                OutboxTail(root / "outbox.sqlite3")))
    telemetry = getattr(app, "_telemetry", {})  # FastAPI 0.16x's built-in OpenTelemetry settings
    print(json.dumps({k: v for k, v in telemetry.items() if isinstance(v, bool)}))
"""


def test_the_web_apps_opentelemetry_stays_off_whatever_the_environment(tmp_path: Path) -> None:
    """FastAPI 0.16x traces, meters and logs every request through OpenTelemetry, and sets up OTLP exporters
    when ``FASTAPI_OTEL_AUTO_CONFIGURE=true``: facecam's app turns every part of it off."""
    env = {**os.environ, "FASTAPI_OTEL_AUTO_CONFIGURE": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", WEB_APP_TELEMETRY, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    settings = json.loads(done.stdout.strip().splitlines()[-1])
    if settings:  # an older FastAPI has no built-in telemetry at all
        assert not any(settings.values()), settings
