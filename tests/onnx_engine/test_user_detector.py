"""A detector the user registers in models.toml, run by ``cv2.FaceDetectorYN``.

No registry package ships a YuNet model and there is no internet here, so the
model is generated: an ONNX graph with YuNet's inputs and outputs (``cls_8``
... ``kps_32``) whose stride-32 class and objectness scores are the mean
brightness of each 32x32 cell and whose box and landmark outputs are fixed.
OpenCV's real FaceDetectorYN decodes it (score sqrt(cls * obj), box centre
(col + 0.5, row + 0.5) * 32, size exp(ln 2) * 32 = 64 px), so a white 32x32
square on a grid cell gives exactly one known box; what is under test is the
registry, the sha256 pin, the runtime and facecam's coordinate handling.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from camera.config import Config, ConfigError, load_config
from camera.detect.config import DetectConfig
from camera.engine import create_engine
from camera.errors import ModelLoadError

#: the generated model's fixed landmark offsets, in stride units from the cell's corner
KPS = [0.2, 0.3, 0.8, 0.3, 0.5, 0.5, 0.3, 0.8, 0.7, 0.8]


def yunet_like_model() -> bytes:
    """The generated YuNet-format graph (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    sizes = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
    for s in (8, 16, 32):
        pooled = f"pool{s}"
        nodes.append(helper.make_node("AveragePool", ["input"], [pooled], kernel_shape=[s, s], strides=[s, s]))
        for head, k in sizes.items():
            weight = 1 / 765 if head in ("cls", "obj") and s == 32 else 0.0  # mean of B, G, R over 255
            bias = {"cls": [0.0], "obj": [0.0], "bbox": [0.5, 0.5, float(np.log(2)), float(np.log(2))],
                    "kps": KPS}[head]
            conv, moved = f"{head}{s}_conv", f"{head}{s}_nhwc"
            nodes.append(helper.make_node("Conv", [pooled, const(f"{head}{s}_w", np.full((k, 3, 1, 1), weight,
                                                                                          np.float32)),
                                                   const(f"{head}{s}_b", np.array(bias, np.float32))], [conv]))
            nodes.append(helper.make_node("Transpose", [conv], [moved], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Reshape", [moved, const(f"{head}{s}_shape", np.array([1, -1, k]))],
                                          [f"{head}_{s}"]))
    outputs = [helper.make_tensor_value_info(f"{h}_{s}", TensorProto.FLOAT, [1, f"n{s}", k])
               for h, k in sizes.items() for s in (8, 16, 32)]
    graph = helper.make_graph(nodes, "yunet_like", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                  [1, 3, "H", "W"])],
                              outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture(scope="module")
def model_dir(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted dlib models plus the generated detector, registered as ``door_yunet``."""
    d = tmp_path_factory.mktemp("user-detector")
    for f in model_cache.iterdir():
        shutil.copy(f, d)
    data = yunet_like_model()
    (d / "door_yunet.onnx").write_bytes(data)
    (d / "models.toml").write_text(f"""
[door_yunet]
kind = "detector"
runtime = "cv2.FaceDetectorYN"
file = "door_yunet.onnx"
sha256 = "{hashlib.sha256(data).hexdigest()}"
default_min_score = 0.9
nms_iou = 0.3
top_k = 100

[tampered]
kind = "detector"
runtime = "cv2.FaceDetectorYN"
file = "door_yunet.onnx"
sha256 = "{'ab' * 32}"
""")
    return d


def _frame(h: int, w: int, square: tuple[int, int, int]) -> np.ndarray:
    """A black RGB frame with a white square (left, top, size) in pixels."""
    rgb = np.zeros((h, w, 3), np.uint8)
    x, y, n = square
    rgb[y:y + n, x:x + n] = 255
    return rgb


def test_a_registered_detector_finds_the_square(model_dir: Path) -> None:
    engine = create_engine("onnx", DetectConfig(detector="door_yunet", upsample=0, detect_max_width=None), model_dir)
    det = engine.detector.detect(_frame(256, 320, (128, 64, 32)))  # grid cell (col 4, row 2) of stride 32
    assert len(det) == 1
    assert det.xyxy[0].tolist() == pytest.approx([112, 48, 176, 112], abs=1e-3)  # 64 px centred on the cell
    assert det.scores[0] == pytest.approx(1.0, abs=1e-3)
    expected = [[(4 + KPS[2 * i]) * 32, (2 + KPS[2 * i + 1]) * 32] for i in range(5)]
    assert det.landmarks is not None and np.allclose(det.landmarks.points[0], expected, atol=1e-3)
    assert len(engine.detector.detect(np.zeros((256, 320, 3), np.uint8))) == 0  # no square: nothing


def test_boxes_come_back_in_full_resolution_pixels(model_dir: Path) -> None:
    """Detection on a copy 320 px wide (half size): boxes are mapped back to the 640 px frame,
    and a detector asked to upsample once finds the same box on an 160 px wide copy."""
    rgb = _frame(512, 640, (256, 128, 64))  # half size: the 32 px square of the first test
    det = create_engine("onnx", DetectConfig(detector="door_yunet", upsample=0, detect_max_width=320),
                        model_dir).detector.detect(rgb)
    assert len(det) == 1 and det.xyxy[0].tolist() == pytest.approx([224, 96, 352, 224], abs=1e-2)
    det = create_engine("onnx", DetectConfig(detector="door_yunet", upsample=1, detect_max_width=160),
                        model_dir).detector.detect(rgb)
    assert len(det) == 1 and det.xyxy[0].tolist() == pytest.approx([224, 96, 352, 224], abs=1e-2)


def test_the_pinned_sha256_and_the_name_are_checked(model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="refusing to run it"):
        create_engine("onnx", DetectConfig(detector="tampered"), model_dir)
    with pytest.raises(ModelLoadError) as err:
        create_engine("onnx", DetectConfig(detector="door_yunnet"), model_dir)
    assert "not built in" in str(err.value) and "door_yunet, tampered" in str(err.value)


@pytest.mark.parametrize("body, message", [
    ('runtime = "opencv"', "runtime = 'opencv'; expected one of cv2.FaceDetectorYN"),
    ('runtime = "cv2.FaceDetectorYN"\nnms_iou = 1.5', "nms_iou must be a number within 0..1"),
    ('runtime = "cv2.FaceDetectorYN"\ntop_k = 0', "top_k must be a whole number"),
    ('runtime = "cv2.FaceDetectorYN"\nthreshold = 0.5', "unknown key(s) threshold"),
])
def test_bad_detector_entries_say_which_key(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "models.toml").write_text(f'[bad]\nkind = "detector"\nfile = "x.onnx"\nsha256 = "{"0" * 64}"\n'
                                          f"{body}\n")
    with pytest.raises(ModelLoadError) as err:
        create_engine("onnx", DetectConfig(detector="bad"), tmp_path)
    assert message in str(err.value) and "[bad]" in str(err.value)


def test_config_takes_a_user_detector_with_any_engine(tmp_path: Path) -> None:
    assert Config.model_validate({"engine": {"detector": "door_yunet"}}).engine.detector_name == "door_yunet"
    cfg = tmp_path / "facecam.toml"
    cfg.write_text('[engine]\nname = "dlib"\n[cameras.door]\nsource = "0"\n[cameras.door.engine]\ndetector = "door_yunet"\n')
    loaded = load_config(cfg)
    assert loaded.engine_for("door").detector_name == "door_yunet" and loaded.engine_for("door").embedder_name == "dlib"
    cfg.write_text('[engine]\ndetector = "../etc/passwd"\n')
    with pytest.raises(ConfigError, match="detector"):
        load_config(cfg)
