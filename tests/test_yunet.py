"""YuNet, the real OpenCV Zoo model (``../shared/models/yunet``), through every door facecam has for it.

Regression (issue 11): YuNet's landmarks were read in dlib's point order, so
a frontal face scored yaw 0.65, quality 0, was never embedded, and YuNet
never named anyone. Landmarks now carry their scheme; every detector's
frontal face must score as frontal and good enough to embed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.detect import DETECTORS, create_detector
from camera.detect.config import DetectConfig
from camera.detect.yunet import OUTPUTS, YuNetDetector, blob, decode
from camera.engine import EngineConfig, create_engine
from camera.evaluation.metrics import match_detections
from camera.imageio import load_image
from camera.track.config import TrackingConfig
from camera.track.quality import frame_qualities
from camera.types import LandmarkScheme
from models import sha256_file
from models.convert import ensure_all
from tests.conftest import AGEITGEY, HAMILTON, REPO, YUNET, facecam

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
        if f.suffix in (".onnx", ".npz", ".json") and f.name != YUNET.name:
            (d / f.name).symlink_to(f)
    assert sha256_file(YUNET) == YUNET_SHA256, f"{YUNET} is not the YuNet release the manifest pins"
    (d / YUNET.name).symlink_to(YUNET)
    (d / "models.toml").write_text(f'[door_yunet]\nkind = "detector"\nruntime = "cv2.FaceDetectorYN"\n'
                                   f'file = "{YUNET}"\nsha256 = "{YUNET_SHA256}"\ndefault_min_score = 0.8\n')
    return d


def test_onnxruntime_decodes_yunet_as_cv2_facedetectoryn_does() -> None:
    """facecam runs YuNet with onnxruntime and decodes it itself (camera/detect/yunet.py): on the hamilton clip's
    frames, every face OpenCV's own FaceDetectorYN finds, at the same box, points and score."""
    detector = YuNetDetector(DetectConfig(upsample=0, detect_max_width=None), 0, YUNET, min_score=0.6)
    cap = cv2.VideoCapture(str(HAMILTON))
    faces = 0
    for k in range(0, 275, 5):
        cap.set(cv2.CAP_PROP_POS_FRAMES, k)
        ok, bgr = cap.read()
        assert ok, f"frame {k} of {HAMILTON}"
        h, w = bgr.shape[:2]
        _, want = cv2.FaceDetectorYN.create(str(YUNET), "", (w, h), 0.6, 0.3, 5000).detect(bgr)
        want = np.zeros((0, 15), np.float32) if want is None else want
        x = blob(bgr)
        got = decode(dict(zip(OUTPUTS, detector._session.get().run(OUTPUTS, {"input": x}), strict=True)),
                     x.shape[3], 0.6, 0.3, 5000)
        assert got.shape == want.shape, f"frame {k}: {len(got)} faces, FaceDetectorYN {len(want)}"
        np.testing.assert_allclose(got, want, atol=0.02, err_msg=f"frame {k}")
        faces += len(want)
    assert faces >= 60, f"only {faces} faces in the sampled frames: the comparison compared little"


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


def test_a_model_that_is_not_yunet_is_refused_in_one_line_before_any_camera_opens(model_dir: Path,
                                                                                 tmp_path: Path) -> None:
    """Regression: a models.toml detector of runtime cv2.FaceDetectorYN whose file is another network (here the
    descriptor) failed on every frame, a traceback each, and the run exited 0."""
    d = tmp_path / "models"
    d.mkdir()
    for f in model_dir.iterdir():
        if f.suffix in (".onnx", ".npz", ".json"):
            (d / f.name).symlink_to(f.resolve())
    resnet = d / "dlib_resnet_v1.onnx"
    (d / "models.toml").write_text(f'[not_yunet]\nkind = "detector"\nruntime = "cv2.FaceDetectorYN"\n'
                                   f'file = "{resnet.name}"\nsha256 = "{sha256_file(resnet)}"\n')
    data = tmp_path / "data"
    env = {"FACECAM_MODEL_DIR": str(d)}
    r = facecam("enroll", "--data-dir", str(data), "lin_manuel_miranda", str(FRONTAL.parent.parent / "lin_manuel_miranda"
                                                                          / "lin-manuel-miranda.png"), env=env)
    assert r.returncode == 0, r.stderr
    r = facecam("run", "--data-dir", str(data), "--source", str(HAMILTON), "--detector", "not_yunet", env=env)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "opened" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == (f"facecam: error: {resnet} is not a YuNet-format model: its inputs "
                                                 "are chips; YuNet's one input is 'input'")


@pytest.fixture(scope="module")
def without_yunet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory with the converted dlib models only: what a machine that could not fetch YuNet has."""
    cache = Path(os.environ["FACECAM_MODEL_DIR"])
    d = tmp_path_factory.mktemp("models-no-yunet")
    for f in cache.iterdir():
        if f.suffix in (".onnx", ".npz", ".json") and f.name != YUNET.name:
            (d / f.name).symlink_to(f)
    return d


def test_the_default_detector_is_yunet_where_it_is_fetched_else_mmod(model_dir: Path, without_yunet: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="camera.engine")
    assert type(create_engine("onnx", DetectConfig(), model_dir).detector).__name__ == "YuNetDetector"
    assert not caplog.records
    fallback = create_engine("onnx", DetectConfig(), without_yunet).detector
    assert type(fallback).__name__ == "MmodDetector"
    assert [r.getMessage() for r in caplog.records] == [
        f"detector mmod: yunet's model is not in {without_yunet} (scripts/fetch_models.py fetches it)"]
    create_engine("onnx", DetectConfig(), without_yunet)
    assert len(caplog.records) == 1  # said once
    explicit = create_engine("onnx", DetectConfig(detector="mmod"), model_dir).detector
    assert type(explicit).__name__ == "MmodDetector"  # the user's choice wins


def test_check_config_names_the_detector_that_will_run(model_dir: Path, without_yunet: Path,
                                                       tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[cameras.door]\nsource = "door.mp4"\n')
    for folder, name in ((model_dir, "yunet"), (without_yunet, "mmod")):
        r = facecam("check-config", str(config), env={"FACECAM_MODEL_DIR": str(folder)})
        assert r.returncode == 0 and f"engine onnx, detector {name})" in r.stdout, r.stdout + r.stderr


def test_the_far_shot_is_seen_with_the_default_settings(model_dir: Path) -> None:
    """Frames 0-19 of the hamilton clip: Lin-Manuel Miranda at ~45 px on stage, the pianist at ~25 px
    (tests/data/hamilton_faces.json); MMOD at upsample 0 finds neither."""
    labels = json.loads((REPO / "tests" / "data" / "hamilton_faces.json").read_text())["frames"]
    far = {int(k): np.array(v["faces"], np.float32) for k, v in labels.items() if int(k) < 20}
    detector = create_engine("onnx", DetectConfig(), model_dir).detector
    cap = cv2.VideoCapture(str(HAMILTON))
    found = 0
    for i in range(20):
        ok, bgr = cap.read()
        assert ok
        if i in far:
            det = detector.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            _, matched = match_detections(det.xyxy, det.scores, far[i], np.zeros(len(far[i]), bool), 0.5)
            found += int(matched.sum())
    assert found == sum(len(b) for b in far.values()) == 10


def test_the_default_settings_name_lin_manuel_miranda_from_the_far_shot(model_dir: Path, tmp_path: Path) -> None:
    data, alerts = tmp_path / "data", tmp_path / "alerts.jsonl"
    env = {"FACECAM_MODEL_DIR": str(model_dir)}
    for person in ("lin_manuel_miranda", "alex_lacamoire"):
        r = facecam("enroll", "--data-dir", str(data), person, *map(str, (AGEITGEY / "identities" / person).iterdir()),
                    env=env)
        assert r.returncode == 0, r.stderr
    r = facecam("run", "--data-dir", str(data), "--source", str(HAMILTON), "--jsonl", str(alerts), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    got = [json.loads(line) for line in alerts.read_text().splitlines()]
    arrived = [a for a in got if a["kind"] == "arrived"]
    assert [a["person"] for a in arrived] == ["lin_manuel_miranda"], got
    assert arrived[0]["extra"]["frame"] < 20, arrived  # named in the far shot, not at the close-up (frame 90)


def test_each_detector_has_its_own_width_unless_the_config_sets_one(model_dir: Path, without_yunet: Path) -> None:
    """YuNet detects at 480 px by default, MMOD at 640; a width the config sets wins (and a camera that sets
    640 does not share YuNet's 480 px detector: the resolved settings differ)."""
    def width(folder: Path, **given: int) -> int | None:
        return EngineConfig(**given).resolved(folder).detect_config().detect_max_width

    assert (width(model_dir), width(model_dir, detect_max_width=640), width(model_dir, detect_max_width=320)) == \
        (480, 640, 320)
    assert width(without_yunet) == 640
    assert create_detector("yunet", DetectConfig(), model_dir).cfg.detect_max_width == 480
    assert create_detector("yunet", DetectConfig(detect_max_width=640), model_dir).cfg.detect_max_width == 640


def test_the_reused_input_buffer_is_padded_with_zeros_whatever_came_before() -> None:
    """The detector writes each frame into the last frame's input buffer when the padded size is the same:
    a smaller frame must not leave the bigger one's pixels in its padding."""
    big = np.full((280, 470, 3), 200, np.uint8)
    small = np.full((270, 450, 3), 100, np.uint8)
    x = blob(small, blob(big))
    assert x.shape == (1, 3, 288, 480)
    np.testing.assert_array_equal(x, blob(small))
    assert x[0, :, :270, :450].min() == 100 and x[0, :, 270:, :].max() == 0 and x[0, :, :, 450:].max() == 0
