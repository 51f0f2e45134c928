"""Shared fixtures: where the real data is, and real engines loaded once per session."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Converted ONNX models are cached once for the whole run (and its `facecam` subprocesses), not per data dir.
os.environ.setdefault("FACECAM_MODEL_DIR", str(Path(tempfile.gettempdir()) / f"facecam-test-models-{os.getuid()}"))
DATA = Path(os.environ.get("FACECAM_TEST_DATA", REPO.parent / "shared" / "data")).resolve()
AGEITGEY = DATA / "ageitgey+face_recognition"
HAMILTON = AGEITGEY / "video" / "short_hamilton_clip.mp4"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not DATA.is_dir():
        raise pytest.UsageError(f"the real test data is missing: expected {DATA} (set FACECAM_TEST_DATA)")


@pytest.fixture(scope="session")
def dlib_engine():
    from camera.engines import DetectorSettings, create_engine

    return create_engine("dlib", DetectorSettings(upsample=1, max_width_px=1600))


def facecam(*args: str, timeout: float = 300, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run the real ``facecam`` command (``python -m camera``) and capture its output."""
    return subprocess.run([sys.executable, "-m", "camera", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})}, **kw)
