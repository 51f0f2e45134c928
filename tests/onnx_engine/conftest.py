"""Fixtures for the onnx engine's parity tests: real photos, models converted once per session.

Nothing here skips: a missing data folder or model package fails the run, so
a green suite means the parity checks ran. dlib is imported only inside the
reference fixtures (the onnx path itself must not need it).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from camera.detect.config import DetectConfig
from tests.conftest import AGEITGEY, DATA

JOHNS = DATA / "davisking+dlib" / "johns"
FACES_DETECTION = DATA / "davisking+dlib" / "faces_detection"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class FacePhoto:
    """A test photo and dlib's HOG face rectangles in it: (n, 4) int64 (left, top, right, bottom), inclusive."""

    path: Path
    rgb: np.ndarray
    rects: np.ndarray


def parity_photos() -> list[Path]:
    """Every photo in the face_recognition folder and every chip in dlib's johns folder."""
    for folder in (AGEITGEY, JOHNS):
        if not folder.is_dir():
            raise FileNotFoundError(f"test data folder {folder} is missing (see ../shared/data/README.md)")
    photos = sorted(p for p in AGEITGEY.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    return photos + sorted(JOHNS.rglob("*.jpg"))


def labels(folder: Path) -> dict[str, str]:
    """``labels.csv`` of a data folder as {relative path: identity}."""
    with (folder / "labels.csv").open(newline="") as f:
        return {row["path"]: row["identity"] for row in csv.DictReader(f)}


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary cache with all three models converted (once per test session)."""
    from models.convert import ensure_all

    cache = tmp_path_factory.mktemp("models")
    ensure_all(cache)
    return cache


@pytest.fixture(scope="session")
def parsed_sp5():
    """shape_predictor_5_face_landmarks.dat parsed straight from dlib's format (~3 s, once)."""
    from models import source_path
    from models.dlib_format import read_shape_predictor

    return read_shape_predictor(source_path("dlib_sp5"))


@pytest.fixture(scope="session")
def onnx_engine(model_cache: Path):
    from camera.engine import create_engine

    return create_engine("onnx", DetectConfig(detector="mmod", upsample=1), model_cache)


@pytest.fixture(scope="session")
def dlib_models():
    """dlib's own predictor, descriptor net, CNN detector and HOG detector (the references)."""
    import dlib

    from models import source_path

    return {
        "sp5": dlib.shape_predictor(str(source_path("dlib_sp5"))),
        "resnet": dlib.face_recognition_model_v1(str(source_path("dlib_resnet_v1"))),
        "cnn": dlib.cnn_face_detection_model_v1(str(source_path("dlib_mmod"))),
        "hog": dlib.get_frontal_face_detector(),
    }


@pytest.fixture(scope="session")
def face_photos(dlib_models) -> list[FacePhoto]:
    """All parity photos with dlib HOG boxes: upsample 1 for photos up to 1000 px, else 0
    (faces in the big photos and the 150 px johns chips are large; upsampling would only cost time)."""
    from camera.imageio import load_image

    out = []
    for path in parity_photos():
        rgb = load_image(path)
        up = 1 if 150 < max(rgb.shape[:2]) <= 1000 else 0
        rects = dlib_models["hog"](rgb, up)
        boxes = np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in rects], np.int64).reshape(-1, 4)
        out.append(FacePhoto(path, rgb, boxes))
    return out


@pytest.fixture(scope="session")
def dlib_shapes(face_photos, dlib_models) -> list[tuple[FacePhoto, np.ndarray, object]]:
    """dlib's 5-point ``full_object_detection`` for every face: (photo, rect, shape)."""
    import dlib

    out = []
    for photo in face_photos:
        for rect in photo.rects:
            out.append((photo, rect, dlib_models["sp5"](photo.rgb, dlib.rectangle(*map(int, rect)))))
    return out


@pytest.fixture(scope="session")
def dlib_descriptors(dlib_shapes, dlib_models) -> np.ndarray:
    """dlib's compute_face_descriptor for every face in ``dlib_shapes`` order, (n, 128) float64."""
    net = dlib_models["resnet"]
    return np.array([net.compute_face_descriptor(photo.rgb, shape) for photo, _, shape in dlib_shapes])


def parts_of(shape) -> np.ndarray:
    """A dlib full_object_detection's parts as (k, 2) int64."""
    return np.array([(p.x, p.y) for p in shape.parts()], np.int64)


@pytest.fixture()
def served(tmp_path: Path):
    """A generated file served by http.server on 127.0.0.1: (url, sha256, bytes)."""
    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    (root / "model.onnx").write_bytes(data)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/model.onnx", hashlib.sha256(data).hexdigest(), data
    finally:
        server.shutdown()
        server.server_close()
