"""Shared fixtures: where the real data is, and real engines loaded once per session."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from camera.detect.config import DetectConfig
from camera.detect.yunet import YUNET_ENTRY
from camera.engine import create_engine
from models.fetch import install_copy

REPO = Path(__file__).resolve().parents[1]
# Converted ONNX models are cached once for the whole run (and its `facecam` subprocesses), not per data dir.
os.environ.setdefault("FACECAM_MODEL_DIR", str(Path(tempfile.gettempdir()) / f"facecam-test-models-{os.getuid()}"))
DATA = Path(os.environ.get("FACECAM_TEST_DATA", REPO.parent / "shared" / "data")).resolve()
AGEITGEY = DATA / "ageitgey+face_recognition"
HAMILTON = AGEITGEY / "video" / "short_hamilton_clip.mp4"
#: model files shared with the project (not in any registry package): OpenCV Zoo's YuNet
SHARED_MODELS = Path(os.environ.get("FACECAM_TEST_MODELS", REPO.parent / "shared" / "models")).resolve()
YUNET = SHARED_MODELS / "yunet" / "face_detection_yunet_2026may.onnx"
#: for runs on the hamilton clip that need strangers: its audience and pianist face the stage, so YuNet's
#: landmarks rate their turned faces too poor to embed and the clip has no unknown visit with the default
#: detector; MMOD finds no landmarks, embeds them, and they become unknown visits to label and review
WITH_STRANGERS = ("--detector", "mmod")


def pytest_sessionstart(session: pytest.Session) -> None:
    """The suite runs what scripts/setup.sh gives a machine with internet: YuNet in the model folder (from
    ../shared/models here, as `scripts/fetch_models.py --from` installs it), so the onnx engine's default
    detector is YuNet; tests of the MMOD fallback use a model folder without it."""
    install_copy(YUNET_ENTRY, YUNET, Path(os.environ["FACECAM_MODEL_DIR"]))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the long tests (marked slow: soak-style and repeated-kill runs)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not DATA.is_dir():
        raise pytest.UsageError(f"the real test data is missing: expected {DATA} (set FACECAM_TEST_DATA)")
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long test: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def dlib_engine():
    return create_engine("dlib", DetectConfig(upsample=1, detect_max_width=1600))


def facecam(*args: str, timeout: float = 300, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run the real ``facecam`` command (``python -m camera``) and capture its output."""
    return subprocess.run([sys.executable, "-m", "camera", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})}, **kw)
