"""Model conversion: repeatable bytes, atomic cache with manifests, stale caches rebuilt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import models
from camera.errors import ModelLoadError
from models import entry, sha256_file
from models.convert import CONVERTER_VERSION, CONVERTIBLE, ensure_converted, load_shape_predictor_npz
from tests.conftest import REPO


def test_cli_conversion_is_byte_identical_to_the_session_cache(model_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    done = subprocess.run([sys.executable, "-m", "models.convert", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in CONVERTIBLE:
        file = entry(name)["converted_file"]
        assert (out / file).read_bytes() == (model_cache / file).read_bytes(), f"{file} differs between runs"
        assert (out / f"{name}.json").read_text() == (model_cache / f"{name}.json").read_text()
        assert file in done.stdout
    assert not list(out.glob(".*.tmp")), "temporary files were left behind"


@pytest.mark.parametrize("name, kind, size, threshold_key, threshold", [
    ("dlib_resnet_v1", "embedder", [150, 150], "default_max_distance", 0.6),
    ("dlib_mmod", "detector", [0, 0], "default_min_score", 0.0),
    ("dlib_sp5", "landmarks", [0, 0], None, None),
])
def test_manifest_records_source_output_and_static_facts(model_cache: Path, name: str, kind: str,
                                                         size: list[int], threshold_key: str | None,
                                                         threshold: float | None) -> None:
    doc = json.loads((model_cache / f"{name}.json").read_text())
    assert doc["source_file"] == entry(name)["file"]
    assert doc["source_sha256"] == sha256_file(models.source_path(name)) == entry(name)["sha256"]
    assert doc["sha256"] == sha256_file(model_cache / doc["file"])
    assert (doc["kind"], doc["input_size"], doc["converter_version"]) == (kind, size, CONVERTER_VERSION)
    assert doc["colour_order"] in ("rgb", "grey") and doc["scaling"]
    if threshold_key:
        assert doc[threshold_key] == threshold


def test_onnx_graphs_have_the_documented_interface(model_cache: Path) -> None:
    resnet = onnx.load(str(model_cache / "dlib_resnet_v1.onnx"))
    onnx.checker.check_model(resnet)
    (inp,), (out,) = resnet.graph.input, resnet.graph.output
    assert inp.name == "chips" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim][1:] == [150, 150, 3]
    assert out.name == "descriptors" and out.type.tensor_type.shape.dim[1].dim_value == 128
    mmod = onnx.load(str(model_cache / "dlib_mmod.onnx"))
    assert [i.name for i in mmod.graph.input] == ["pyramid"] and [o.name for o in mmod.graph.output] == ["scores"]
    assert not any(n.op_type == "BatchNormalization" for n in mmod.graph.node), "bn must be folded"


def test_shape_predictor_npz_round_trips(model_cache: Path, parsed_sp5) -> None:
    a = load_shape_predictor_npz(model_cache / "dlib_sp5.npz")
    b = parsed_sp5
    for field in ("initial_shape", "split_idx", "split_thresh", "leaves", "anchor_idx", "deltas"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_current_cache_is_reused_and_damaged_output_rebuilt(model_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    cache.mkdir()
    for suffix in (".onnx", ".json"):
        (cache / f"dlib_mmod{suffix}").write_bytes((model_cache / f"dlib_mmod{suffix}").read_bytes())
    first = ensure_converted("dlib_mmod", cache)
    stamp = first.path.stat().st_mtime_ns
    assert ensure_converted("dlib_mmod", cache).path.stat().st_mtime_ns == stamp  # reused, not rewritten
    first.path.write_bytes(b"not a model")
    again = ensure_converted("dlib_mmod", cache)
    assert again.path.read_bytes() == (model_cache / "dlib_mmod.onnx").read_bytes()


def test_source_with_the_wrong_sha256_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = models.load_manifest()
    bad = {**real, "dlib_mmod": {**real["dlib_mmod"], "sha256": "0" * 64}}
    monkeypatch.setattr(models, "load_manifest", lambda: bad)
    with pytest.raises(ModelLoadError, match="sha256"):
        ensure_converted("dlib_mmod", tmp_path)
    assert not list(tmp_path.iterdir())


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="convertible: dlib_mmod, dlib_resnet_v1, dlib_sp5"):
        ensure_converted("yunet", tmp_path)
