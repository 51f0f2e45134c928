"""Pinned downloads (against a local HTTP server) and the YuNet extra detector."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from camera.errors import ModelLoadError
from camera.imageio import load_image
from models.fetch import download, fetchable
from tests.conftest import AGEITGEY, REPO


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
    assert fetchable() == ["yunet_2023mar"]
    done = subprocess.run([sys.executable, "scripts/fetch_models.py", "dlib_mmod"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no pinned download for dlib_mmod" in done.stderr


def _yunet_file() -> Path | None:
    """A fetched YuNet model: $FACECAM_YUNET_ONNX, else the default cache."""
    from models.convert import default_cache_dir
    from models.fetch import fetched_path

    env = os.environ.get("FACECAM_YUNET_ONNX")
    path = Path(env) if env else fetched_path("yunet_2023mar", default_cache_dir())
    return path if path.is_file() else None


@pytest.mark.skipif(_yunet_file() is None, reason="no YuNet ONNX here (no internet to fetch it, and no fakes): "
                    "run scripts/fetch_models.py yunet_2023mar or set FACECAM_YUNET_ONNX")
def test_yunet_finds_the_two_people(model_cache: Path, tmp_path: Path) -> None:
    from camera.engines import create_engine
    from camera.engines.base import DetectorSettings

    (tmp_path / _yunet_file().name).write_bytes(_yunet_file().read_bytes())
    for f in model_cache.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    engine = create_engine("onnx", DetectorSettings(model="yunet", upsample=0), tmp_path)
    rgb = load_image(AGEITGEY / "multi" / "two_people.jpg")
    det = engine.detector.detect(rgb)
    assert len(det) == 2 and det.landmarks is not None and det.scores.min() >= 0.9
    assert engine.embedder.embed(rgb, det).vectors.shape == (2, 128)


def test_yunet_rows_become_detections_highest_score_first() -> None:
    from camera.engines.yunet import detections_from_yunet

    rows = np.array([[10, 20, 30, 40, *range(10), 0.5], [100, 50, 60, 60, *range(10, 20), 0.95]], np.float32)
    det = detections_from_yunet(rows, scale=2.0)
    assert det.scores.tolist() == pytest.approx([0.95, 0.5])
    assert det.xyxy.tolist() == [[200, 100, 320, 220], [20, 40, 80, 120]]
    assert det.landmarks.shape == (2, 5, 2) and det.landmarks[1, 0].tolist() == [0, 2]
    assert len(detections_from_yunet(None)) == 0
