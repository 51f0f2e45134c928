"""YuNet, the real OpenCV Zoo model (``../shared/models/yunet``), through every door facecam has for it.

Regression (issue 11): YuNet's landmarks were read in dlib's point order, so
a frontal face scored yaw 0.65, quality 0, was never embedded, and YuNet
never named anyone. Landmarks now carry their scheme; every detector's
frontal face must score as frontal and good enough to embed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.detect import DETECTORS, create_detector
from camera.detect.config import DetectConfig
from camera.imageio import load_image
from camera.track.config import TrackingConfig
from camera.track.quality import frame_qualities
from camera.types import LandmarkScheme
from models import sha256_file
from models.convert import ensure_all
from tests.conftest import AGEITGEY, HAMILTON, YUNET, facecam

FRONTAL = AGEITGEY / "identities" / "obama" / "obama-480p.jpg"
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory: the converted dlib models (linked from the test cache), the built-in YuNet under its
    manifest name, and a user detector ``door_yunet`` in models.toml pointing at the shared file."""
    cache = Path(os.environ["FACECAM_MODEL_DIR"])
    ensure_all(cache)
    d = tmp_path_factory.mktemp("models")
    for f in cache.iterdir():
        if f.suffix in (".onnx", ".npz", ".json"):
            (d / f.name).symlink_to(f)
    assert sha256_file(YUNET) == YUNET_SHA256, f"{YUNET} is not the YuNet release the manifest pins"
    (d / YUNET.name).symlink_to(YUNET)
    (d / "models.toml").write_text(f'[door_yunet]\nkind = "detector"\nruntime = "cv2.FaceDetectorYN"\n'
                                   f'file = "{YUNET}"\nsha256 = "{YUNET_SHA256}"\ndefault_min_score = 0.8\n')
    return d


@pytest.mark.parametrize("detector", [*DETECTORS, "door_yunet"])
def test_a_frontal_face_scores_frontal_and_good_with_every_detector(model_dir: Path, detector: str) -> None:
    rgb = load_image(FRONTAL)
    det = create_detector(detector, DetectConfig(upsample=0, detect_max_width=None), model_dir).detect(rgb)
    assert len(det) == 1, f"{detector}: {len(det)} faces"
    q = frame_qualities(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), det)[0]
    if det.landmarks is None:
        assert q.yaw_ratio is None  # no landmarks: not penalised
    else:
        assert q.yaw_ratio is not None and q.yaw_ratio < 0.1, f"{detector} ({det.landmarks.scheme}): yaw {q.yaw_ratio}"
    assert q.value >= TrackingConfig().min_quality, f"{detector}: quality {q.value:.2f} ({q})"


def test_yunet_finds_two_people_with_eye_nose_mouth_landmarks(model_dir: Path) -> None:
    rgb = load_image(AGEITGEY / "multi" / "two_people.jpg")
    det = create_detector("yunet", DetectConfig(upsample=0), model_dir).detect(rgb)
    assert len(det) == 2 and det.scores.min() >= 0.9
    assert det.landmarks is not None and det.landmarks.scheme is LandmarkScheme.EYES_NOSE_MOUTH
    eyes = det.landmarks.eye_centres()
    assert np.all(eyes[:, 0, 0] < eyes[:, 1, 0])  # the image-left eye first
    inside = (eyes >= det.xyxy[:, None, :2]) & (eyes <= det.xyxy[:, None, 2:])
    assert inside.all()


@pytest.mark.parametrize("detector", ["yunet", "door_yunet"])
def test_facecam_run_with_yunet_names_lin_manuel_miranda_on_the_hamilton_clip(model_dir: Path, tmp_path: Path,
                                                                               detector: str) -> None:
    data = tmp_path / "data"
    env = {"FACECAM_MODEL_DIR": str(model_dir)}
    r = facecam("enroll", "--data-dir", str(data), "--detector", detector, "lin_manuel_miranda",
                *map(str, (AGEITGEY / "identities" / "lin_manuel_miranda").iterdir()), env=env)
    assert r.returncode == 0, r.stderr
    alerts = tmp_path / "alerts.jsonl"
    r = facecam("run", "--data-dir", str(data), "--source", str(HAMILTON), "--detector", detector,
                "--jsonl", str(alerts), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    got = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [a["person"] for a in got if a["kind"] == "arrived"] == ["lin_manuel_miranda"], got
    assert {a["person"] for a in got} <= {"lin_manuel_miranda", "unknown"}
