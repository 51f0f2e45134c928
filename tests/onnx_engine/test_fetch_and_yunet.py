"""Pinned downloads (against a local HTTP server), installed copies, and YuNet's rows as detections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from camera.errors import ModelLoadError
from camera.types import Detections, LandmarkScheme
from models.fetch import download, fetchable, install_copy
from tests.conftest import REPO, YUNET


def test_download_with_the_pinned_sha256_lands(served, tmp_path: Path) -> None:
    url, sha, data = served
    dest = download(url, sha, tmp_path / "out" / "m.onnx")
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["m.onnx"]


def test_download_with_another_sha256_is_refused_and_removed(served, tmp_path: Path) -> None:
    url, sha, _ = served
    out = tmp_path / "out"
    with pytest.raises(ModelLoadError, match="does not match the pinned"):
        download(url, "0" * 64, out / "m.onnx")
    assert list(out.iterdir()) == []


def test_missing_url_is_a_clear_error(served, tmp_path: Path) -> None:
    url, sha, _ = served
    with pytest.raises(ModelLoadError, match="cannot download"):
        download(url.replace("model.onnx", "absent.onnx"), sha, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_fetch_script_refuses_unknown_entries() -> None:
    assert fetchable() == ["yunet_2026may"]
    done = subprocess.run([sys.executable, "scripts/fetch_models.py", "dlib_mmod"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no pinned download for dlib_mmod" in done.stderr


def test_yunet_rows_become_detections_highest_score_first_with_their_landmark_scheme() -> None:
    rows = np.array([[10, 20, 30, 40, *range(10), 0.5], [100, 50, 60, 60, *range(10, 20), 0.95]], np.float32)
    det = Detections.from_yunet(rows, scale=2.0)
    assert det.scores.tolist() == pytest.approx([0.95, 0.5])
    assert det.xyxy.tolist() == [[200, 100, 320, 220], [20, 40, 80, 120]]
    assert det.landmarks is not None and det.landmarks.scheme is LandmarkScheme.EYES_NOSE_MOUTH
    assert det.landmarks.points[0].tolist() == [[2 * x, 2 * x + 2] for x in range(10, 20, 2)]
    assert det.landmarks.nose()[0].tolist() == [28, 30]  # YuNet's third point, times the scale


def test_fetch_from_a_copy_installs_only_the_pinned_file(tmp_path: Path) -> None:
    """A machine without internet installs a carried-over copy; anything else is refused and nothing lands."""
    out = tmp_path / "models"
    wrong = tmp_path / "face_detection_yunet_2026may.onnx"
    wrong.write_bytes(YUNET.read_bytes()[:-1])
    cmd = [sys.executable, "scripts/fetch_models.py", "yunet_2026may", "--out", str(out), "--from"]
    done = subprocess.run([*cmd, str(wrong)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "not the pinned" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() or list(out.iterdir()) == []
    done = subprocess.run([*cmd, str(YUNET)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (out / YUNET.name).read_bytes() == YUNET.read_bytes() and list(out.iterdir()) == [out / YUNET.name]
    done = subprocess.run([sys.executable, "scripts/fetch_models.py", "--out", str(out), "--from", str(YUNET)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "installs one model" in done.stderr


def test_install_copy_of_an_unreadable_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot read .*absent.onnx"):
        install_copy("yunet_2026may", tmp_path / "absent.onnx", tmp_path / "models")
