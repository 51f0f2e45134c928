"""Nothing leaves the machine unless a configured sink sends it: not even a library's usage statistics."""

from __future__ import annotations

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
