"""User-supplied embedders (models.toml in the model directory), run with real weights.

The real model each test registers is dlib's ResNet as models/convert.py
writes it (uint8 NHWC RGB chips in), and the same network behind a
generated preprocessing graph that takes float32 NCHW BGR input normalised
as (pixel - 127.5) / 128: what many published embedders expect. Either way
the descriptors must equal the built-in engine's, which checks that the
manifest's colour order, layout, dtype, mean and std are applied exactly.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from camera.detect.config import DetectConfig
from camera.engine import create_engine
from camera.errors import ModelLoadError
from camera.imageio import load_image
from models.user import EmbedderSpec, user_entry
from tests.conftest import AGEITGEY, HAMILTON, facecam

KNN = AGEITGEY / "knn_examples"
SETTINGS = DetectConfig(detector="mmod", upsample=1)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_manifest(model_dir: Path, text: str) -> None:
    (model_dir / "models.toml").write_text(text)


@pytest.fixture(scope="module")
def user_dir(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory: the converted dlib models (copied from the session cache) plus
    ``wrapped.onnx``, the ResNet behind a float32 NCHW BGR preprocessing graph."""
    import onnx
    from onnx import TensorProto, compose, helper

    d = tmp_path_factory.mktemp("user-models")
    for f in model_cache.iterdir():
        if f.is_file():
            shutil.copy(f, d / f.name)
    resnet = onnx.load(str(d / "dlib_resnet_v1.onnx"))
    opset = next(o.version for o in resnet.opset_import if o.domain in ("", "ai.onnx"))
    pre = helper.make_graph(
        [helper.make_node("Mul", ["image", "s"], ["a"]),
         helper.make_node("Add", ["a", "m"], ["b"]),
         helper.make_node("Gather", ["b", "bgr"], ["c"], axis=1),  # BGR -> RGB
         helper.make_node("Transpose", ["c"], ["d"], perm=[0, 2, 3, 1]),
         helper.make_node("Round", ["d"], ["e"]),
         helper.make_node("Cast", ["e"], ["chips_u8"], to=TensorProto.UINT8)],
        "pre",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 150, 150])],
        [helper.make_tensor_value_info("chips_u8", TensorProto.UINT8, ["N", 150, 150, 3])],
        [helper.make_tensor("s", TensorProto.FLOAT, [], [128.0]),
         helper.make_tensor("m", TensorProto.FLOAT, [], [127.5]),
         helper.make_tensor("bgr", TensorProto.INT64, [3], [2, 1, 0])])
    pre_model = helper.make_model(pre, opset_imports=[helper.make_opsetid("", opset)],
                                  ir_version=resnet.ir_version)
    onnx.save(compose.merge_models(pre_model, resnet, io_map=[("chips_u8", "chips")]), str(d / "wrapped.onnx"))
    _write_manifest(d, f"""
[same_resnet]
kind = "embedder"
file = "dlib_resnet_v1.onnx"
sha256 = "{_sha(d / 'dlib_resnet_v1.onnx')}"
input_size = [150, 150]
colour_order = "rgb"
input_layout = "nhwc"
input_dtype = "uint8"
alignment = "dlib_chip"
chip_padding = 0.25
default_max_distance = 0.6
model_id = "user-resnet-uint8"

[wrapped_resnet]
kind = "embedder"
file = "wrapped.onnx"
sha256 = "{_sha(d / 'wrapped.onnx')}"
input_size = [150, 150]
colour_order = "bgr"
input_layout = "nchw"
input_dtype = "float32"
mean = [127.5, 127.5, 127.5]
std = [128.0, 128.0, 128.0]
alignment = "dlib_chip"
default_max_distance = 0.6
model_id = "user-resnet-float"

[unit_resnet]
kind = "embedder"
file = "{d / 'dlib_resnet_v1.onnx'}"
sha256 = "{_sha(d / 'dlib_resnet_v1.onnx')}"
input_size = [150, 150]
colour_order = "rgb"
input_layout = "nhwc"
input_dtype = "uint8"
alignment = "box"
box_margin = 0.1
l2_normalise = true
default_max_distance = 0.9

[a_detector]
kind = "detector"
runtime = "cv2.FaceDetectorYN"
file = "absent.onnx"
sha256 = "{'0' * 64}"
""")
    return d


@pytest.fixture(scope="module")
def knn_faces(onnx_engine):
    """(rgb, detections) for every knn test photo."""
    out = []
    for path in sorted((KNN / "test").glob("*.jpg")):
        rgb = load_image(path)
        out.append((rgb, onnx_engine.detector.detect(rgb)))
    return out


def _builtin(onnx_engine, knn_faces) -> np.ndarray:
    return np.concatenate([onnx_engine.embedder.embed(rgb, det).vectors for rgb, det in knn_faces])


@pytest.mark.parametrize("name", ["same_resnet", "wrapped_resnet"])
def test_user_embedder_gives_the_builtin_descriptors(user_dir, onnx_engine, knn_faces, name) -> None:
    engine = create_engine("onnx", SETTINGS, user_dir, embedder=name)
    assert engine.embedder.model_id == {"same_resnet": "user-resnet-uint8", "wrapped_resnet": "user-resnet-float"}[name]
    got = np.concatenate([engine.embedder.embed(rgb, det).vectors for rgb, det in knn_faces])
    want = _builtin(onnx_engine, knn_faces)
    assert got.shape == want.shape and len(got) >= 6
    assert np.abs(got - want).max() < 1e-5


def test_box_alignment_and_unit_length(user_dir, onnx_engine, knn_faces) -> None:
    engine = create_engine("onnx", SETTINGS, user_dir, embedder="unit_resnet")
    assert engine.embedder.model_id == "user:unit_resnet"
    rgb, det = knn_faces[0]
    chips = engine.embedder.chips(rgb, det)
    assert chips.shape == (len(det), 150, 150, 3)
    # the box with a 10% margin, resized: compare with a plain crop + resize of the same region
    import cv2

    x0, y0, x1, y1 = det.xyxy[0]
    mx, my = (x1 - x0) * 0.1, (y1 - y0) * 0.1
    left, t, r, b = (int(round(v)) for v in (x0 - mx, y0 - my, x1 + mx, y1 + my))
    assert left >= 0 and t >= 0 and r <= rgb.shape[1] and b <= rgb.shape[0], "pick a photo whose face is inside"
    plain = cv2.resize(rgb[t:b, left:r], (150, 150), interpolation=cv2.INTER_AREA)
    assert np.abs(plain.astype(int) - chips[0]).mean() < 4
    vecs = engine.embedder.embed(rgb, det).vectors
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    # a loose box is not dlib's chip: the vectors differ from the built-in ones, but name the same person
    builtin = onnx_engine.embedder.embed(rgb, det).vectors
    builtin /= np.linalg.norm(builtin, axis=1, keepdims=True)
    assert np.abs(vecs - builtin).max() > 1e-3


def test_a_user_embedder_recognises_through_the_cli(user_dir, tmp_path) -> None:
    """enrol and run with ``--embedder``: the hamilton clip names lin_manuel_miranda and no one else."""
    import json

    data = tmp_path / "data"
    env = {"FACECAM_MODEL_DIR": str(user_dir)}
    r = facecam("enroll", "--data-dir", str(data), "--embedder", "wrapped_resnet",
                "--from-dir", str(AGEITGEY / "identities"), env=env)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "alerts.jsonl"
    r = facecam("run", "--data-dir", str(data), "--embedder", "wrapped_resnet", "--source", str(HAMILTON),
                "--jsonl", str(out), env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    named = {json.loads(line)["person"] for line in out.read_text().splitlines()} - {"unknown"}
    assert named == {"lin_manuel_miranda"}
    r = facecam("run", "--data-dir", str(data), "--embedder", "nobody", "--source", str(HAMILTON), env=env)
    assert r.returncode != 0 and "no embedder 'nobody'" in r.stderr and "wrapped_resnet" in r.stderr


def test_wrong_sha256_is_refused(user_dir, tmp_path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    shutil.copy(user_dir / "dlib_sp5.npz", d)
    shutil.copy(user_dir / "dlib_mmod.onnx", d)
    shutil.copy(user_dir / "dlib_resnet_v1.onnx", d)
    for f in user_dir.glob("*.json"):
        shutil.copy(f, d)
    _write_manifest(d, f"""[x]\nkind = "embedder"\nfile = "dlib_resnet_v1.onnx"\nsha256 = "{'ab' * 32}"
input_size = [150, 150]\ncolour_order = "rgb"\ninput_layout = "nhwc"\ninput_dtype = "uint8"
alignment = "dlib_chip"\ndefault_max_distance = 0.6\n""")
    with pytest.raises(ModelLoadError, match="refusing to run it"):
        create_engine("onnx", SETTINGS, d, embedder="x")


@pytest.mark.parametrize("body, message", [
    ('kind = "embedder"\nfile = "f.onnx"', "missing key 'input_size'"),
    (f'kind = "embedder"\nfile = "f.onnx"\nsha256 = "{"0" * 64}"\ninput_size = [150, 150]\n'
     'colour_order = "rgb"\ninput_layout = "nhwc"\ninput_dtype = "uint8"\nalignment = "dlib_chip"\n'
     'default_max_distance = 0.6\nthreshold = 3', "unknown key(s) threshold"),
    (f'kind = "embedder"\nfile = "f.onnx"\nsha256 = "{"0" * 64}"\ninput_size = [150, 150]\n'
     'colour_order = "yuv"\nalignment = "box"\ndefault_max_distance = 1', "colour_order = 'yuv'; expected one of rgb, bgr"),
    (f'kind = "embedder"\nfile = "f.onnx"\nsha256 = "{"0" * 64}"\ninput_size = [112, 96]\n'
     'colour_order = "rgb"\ninput_layout = "nhwc"\ninput_dtype = "uint8"\nalignment = "dlib_chip"',
     "makes square chips"),
    ('kind = "tracker"', "kind = 'tracker'"),
])
def test_bad_entries_say_which_key(tmp_path, body, message) -> None:
    _write_manifest(tmp_path, f"[bad]\n{body}\n")
    with pytest.raises(ModelLoadError) as err:
        EmbedderSpec.from_entry("bad", user_entry("bad", tmp_path, "embedder"))
    assert message in str(err.value) and "[bad]" in str(err.value)


def test_builtin_names_and_kinds_are_kept_apart(user_dir, tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="a detector, not a embedder"):
        user_entry("a_detector", user_dir, "embedder")
    _write_manifest(tmp_path, '[dlib_resnet_v1]\nkind = "embedder"\n')
    with pytest.raises(ModelLoadError, match="built-in model name"):
        user_entry("dlib_resnet_v1", tmp_path, "embedder")
    # detectors and embedders are chosen apart: the dlib engine's HOG with a user embedder
    mixed = create_engine("dlib", DetectConfig(), user_dir, embedder="same_resnet")
    assert mixed.embedder.model_id == EmbedderSpec.from_entry("same_resnet", user_entry("same_resnet", user_dir,
                                                                                         "embedder")).model_id


def test_fetch_models_reads_the_user_manifest(served, tmp_path) -> None:
    """A user entry with a url is fetched beside its manifest, checked against its sha256."""
    import subprocess
    import sys

    from tests.conftest import REPO

    url, sha, data = served
    _write_manifest(tmp_path, f'[mine]\nkind = "embedder"\nfile = "mine.onnx"\nsha256 = "{sha}"\nurl = "{url}"\n'
                              f'[bad]\nkind = "embedder"\nfile = "bad.onnx"\nsha256 = "{"1" * 64}"\nurl = "{url}"\n')
    run = [sys.executable, str(REPO / "scripts" / "fetch_models.py"), "--out", str(tmp_path)]
    r = subprocess.run(run + ["mine"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mine.onnx").read_bytes() == data
    r = subprocess.run(run + ["bad"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "does not match the pinned" in r.stderr
    assert not (tmp_path / "bad.onnx").exists()


def test_evaluate_runs_a_user_embedder_beside_the_builtin(user_dir, tmp_path) -> None:
    """``evaluate pairs --engine onnx,onnx:same_resnet --model-dir DIR``: the same distances from both."""
    import json

    from camera.evaluation.cli import main
    from tests.conftest import DATA

    pairs = DATA / "serengil+deepface" / "pairs.csv"
    out = tmp_path / "report"
    assert main(["pairs", str(pairs), "--limit", "16", "--engine", "onnx,onnx:same_resnet", "--model-dir",
                 str(user_dir), "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--progress", "off",
                 "--workers", "1"]) == 0
    engines = json.loads((out / "pairs.json").read_text())["result"]["engines"]
    assert [e["engine"] for e in engines] == ["onnx", "onnx:same_resnet"]
    assert engines[1]["model_id"] == "user-resnet-uint8"
    builtin, user = ([s["distance"] for s in e["scores"]] for e in engines)
    assert len(builtin) == 16 and all(d is not None for d in builtin)
    assert np.allclose(builtin, user, atol=1e-5)
    assert main(["pairs", str(pairs), "--engine", "dlib:same_resnet", "--out", str(out)]) == 2


def test_evaluate_model_dir_does_not_leak(user_dir, tmp_path, monkeypatch) -> None:
    """--model-dir holds for one run only; the environment is as it was afterwards."""
    import os

    from camera.evaluation.cli import main
    from tests.conftest import DATA

    monkeypatch.setenv("FACECAM_MODEL_DIR", str(tmp_path / "elsewhere"))
    pairs = DATA / "serengil+deepface" / "pairs.csv"
    assert main(["pairs", str(pairs), "--limit", "2", "--engine", "onnx:same_resnet", "--model-dir", str(user_dir),
                 "--no-cache", "--out", str(tmp_path / "r"), "--progress", "off", "--workers", "1"]) == 0
    assert os.environ["FACECAM_MODEL_DIR"] == str(tmp_path / "elsewhere")
