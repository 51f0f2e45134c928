"""The pure-Python ONNX writer (models/onnx_proto.py) against the onnx package.

Converting the dlib models must not need ``onnx`` (31 MB plus protobuf and
ml_dtypes, too heavy for a Pi), yet the files must stay byte-identical to
what ``onnx.helper`` + ``SerializeToString(deterministic=True)`` wrote before
(CONVERTER_VERSION 2). The onnx package is a test dependency only: here it
builds the reference bytes and runs the checker.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper
from PIL import Image

from models import entry, source_path
from models.convert import CONVERTER_VERSION
from models.dlib_dnn import read_dnn
from models.onnx_graphs import build_mmod, build_resnet
from models.onnx_proto import (
    Attribute,
    DataType,
    Model,
    Node,
    OperatorSetId,
    Tensor,
    ValueInfo,
    float_field,
    int_field,
    len_field,
    tag,
    varint,
)
from tests.conftest import AGEITGEY, REPO
from tests.onnx_engine.conftest import JOHNS

#: sha256 of the converted files per CONVERTER_VERSION (from the dlib weights pinned in manifest.toml).
#: Version 2 is what the onnx.helper builder wrote; changed bytes need a new version and a new entry.
CONVERTED_SHA256 = {
    2: {"dlib_resnet_v1": "05e31b1f2f3a4974e7bd3d0a722619ab42f5a94ce31ffcb350c808c467db0fb3",
        "dlib_mmod": "705fa8a68d05b20198643b213138c37e9025c198bc07dcb93629f49e2bfbcc3d"},
}
BUILDERS = {"dlib_resnet_v1": build_resnet, "dlib_mmod": build_mmod}


@pytest.mark.parametrize("value, encoded, error", [
    (0, b"\x00", None),
    (1, b"\x01", None),
    (127, b"\x7f", None),
    (128, b"\x80\x01", None),
    (150, b"\x96\x01", None),
    (300, b"\xac\x02", None),
    (2**63 - 1, b"\xff" * 8 + b"\x7f", None),
    (-1, b"\xff" * 9 + b"\x01", None),  # negative int64: 64-bit two's complement, 10 bytes
    (-(2**63), b"\x80" * 9 + b"\x01", None),
    (2**64, None, ValueError),
    (-(2**63) - 1, None, ValueError),
])
def test_varint_matches_protobuf_encoding(value: int, encoded: bytes | None, error: type | None) -> None:
    if error:
        with pytest.raises(error):
            varint(value)
    else:
        assert varint(value) == encoded


@pytest.mark.parametrize("encode, encoded, error", [
    (lambda: int_field(1, 150), bytes.fromhex("089601"), None),  # protobuf docs: Test1.a = 150
    (lambda: len_field(2, "testing"), bytes.fromhex("120774657374696e67"), None),  # Test2.b = "testing"
    (lambda: len_field(9, b""), b"\x4a\x00", None),  # a present but empty bytes field
    (lambda: int_field(20, 7), b"\xa0\x01\x07", None),  # field 20 needs a 2-byte key
    (lambda: int_field(1, -2), b"\x08\xfe" + b"\xff" * 8 + b"\x01", None),
    (lambda: float_field(2, 1.0), b"\x15\x00\x00\x80\x3f", None),
    (lambda: tag(0, 0), None, ValueError),
])
def test_field_encoders_match_protobuf_encoding(encode, encoded: bytes | None, error: type | None) -> None:
    if error:
        with pytest.raises(error):
            encode()
    else:
        assert encode() == encoded


@pytest.mark.parametrize("value, error", [
    (0, None), (-3, None), (2**40, None), (np.int64(5), None), (DataType.FLOAT, None), (True, None),
    (1.5, None), (np.float32(0.1), None), ("pads", None), (b"\x00raw", None),
    ([1, 2], None), ((-1, 0, 300), None), ([0.5, 2.0], None), ([1, 0.5], None),
    ([], TypeError), (["a", 1], TypeError), ({1: 2}.items(), TypeError),
])
def test_attribute_bytes_equal_make_attribute(value: object, error: type | None) -> None:
    if error:
        with pytest.raises(error):
            Attribute.of("a", value)
    else:
        want = helper.make_attribute("a", value).SerializeToString(deterministic=True)
        assert Attribute.of("a", value).serialize() == want


@pytest.mark.parametrize("array, error", [
    (np.arange(6, dtype=np.float32).reshape(2, 3), None),
    (np.arange(6, dtype=np.float32).reshape(2, 3).T, None),  # a view: stored in C order
    (np.array([-5, 0, 2**40], np.int64), None),
    (np.arange(4, dtype=">f4"), None),  # big-endian input is stored little-endian
    (np.array(1 / 256, np.float32), None),  # a scalar has no dims
    (np.zeros((0, 3), np.uint8), None),  # empty raw_data is still written
    (np.array([True, False]), None),
    (np.array([1.5], np.float16), None),
    (np.array([1.5], np.float64), None),
    (np.array([1j], np.complex64), ValueError),
    (np.array(["x"], object), ValueError),
])
def test_tensor_bytes_equal_from_array(array: np.ndarray, error: type | None) -> None:
    if error:
        with pytest.raises(error):
            Tensor.from_array(array, "t")
    else:
        tensor = Tensor.from_array(array, "t")
        native = array.astype(array.dtype.newbyteorder("="))  # onnx's from_array refuses big-endian arrays
        assert tensor.serialize() == numpy_helper.from_array(native, "t").SerializeToString(deterministic=True)
        assert np.array_equal(tensor.to_array(), array)


def test_tensor_with_wrong_raw_data_length_is_refused() -> None:
    with pytest.raises(ValueError, match="need 24 bytes of raw_data, got 20"):
        Tensor("t", DataType.FLOAT, (2, 3), bytes(20))


@pytest.mark.parametrize("shape, error", [
    (("N", 3, "H", "W"), None), ((), None), ((0,), None), ((2**40, "batch"), None),
    ((None,), TypeError), ((True,), TypeError), ((1.0,), TypeError),
])
def test_value_info_bytes_equal_make_tensor_value_info(shape: tuple, error: type | None) -> None:
    if error:
        with pytest.raises(error):
            ValueInfo("x", DataType.FLOAT, shape)
    else:
        want = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(shape))
        assert ValueInfo("x", DataType.FLOAT, shape).serialize() == want.SerializeToString(deterministic=True)


@pytest.mark.parametrize("name, attrs", [
    ("", {}),
    ("n1_Conv", {"strides": [2, 2], "kernel_shape": [3, 3], "pads": [0, 1, 0, 1], "group": None}),
    ("n2_Cast", {"to": DataType.FLOAT}),
])
def test_node_bytes_equal_make_node(name: str, attrs: dict[str, object]) -> None:
    want = helper.make_node("Conv", ["x", "w"], ["y"], name=name, **attrs)
    assert Node.make("Conv", ["x", "w"], ["y"], name=name, **attrs).serialize() == \
        want.SerializeToString(deterministic=True)


@pytest.mark.parametrize("domain, version", [("", 17), ("ai.onnx.ml", 3)])
def test_opset_bytes_equal_make_opsetid(domain: str, version: int) -> None:
    want = helper.make_opsetid(domain, version).SerializeToString(deterministic=True)
    assert OperatorSetId(domain, version).serialize() == want


@pytest.fixture(scope="module")
def networks() -> dict[str, tuple[Model, bytes]]:
    """Both graphs built from the installed dlib weights: {name: (model, its bytes)}."""
    out = {}
    for name, build in BUILDERS.items():
        model = build(read_dnn(source_path(name)))
        out[name] = (model, model.serialize())
    return out


@pytest.mark.parametrize("name", BUILDERS)
def test_network_bytes_equal_the_onnx_helper_build(networks, name: str) -> None:
    model, data = networks[name]
    reference = _with_onnx_helper(model)
    onnx.checker.check_model(reference)
    assert data == reference.SerializeToString(deterministic=True)
    assert data == onnx.load_from_string(data).SerializeToString(deterministic=True)


@pytest.mark.parametrize("name", BUILDERS)
def test_network_bytes_are_those_of_the_converter_version(networks, name: str) -> None:
    assert CONVERTER_VERSION in CONVERTED_SHA256, "new converter version: record its sha256 here"
    got = hashlib.sha256(networks[name][1]).hexdigest()
    assert got == CONVERTED_SHA256[CONVERTER_VERSION][name], (
        f"{name} bytes changed without a CONVERTER_VERSION bump (models/convert.py)")


@pytest.mark.parametrize("name", BUILDERS)
def test_network_passes_the_onnx_checker(networks, name: str) -> None:
    model = onnx.load_from_string(networks[name][1])
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == 8 and [(o.domain, o.version) for o in model.opset_import] == [("", 17)]


def test_resnet_runs_in_onnxruntime_like_the_onnx_build_and_dlib(networks, dlib_models) -> None:
    model, data = networks["dlib_resnet_v1"]
    chips = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(JOHNS.rglob("*.jpg"))[::14]])
    got = _session(data).run(None, {"chips": chips})[0]
    reference = _session(_with_onnx_helper(model).SerializeToString()).run(None, {"chips": chips})[0]
    want = np.array([dlib_models["resnet"].compute_face_descriptor(chip) for chip in chips])
    assert got.shape == (len(chips), 128) and len(chips) >= 4
    assert np.array_equal(got, reference)
    assert np.abs(got - want).max() < 1e-5


def test_mmod_runs_in_onnxruntime_like_the_onnx_build(networks) -> None:
    model, data = networks["dlib_mmod"]
    image = Image.open(AGEITGEY / "multi" / "two_people.jpg").convert("RGB")
    half = np.asarray(image.resize((image.width // 2, image.height // 2), Image.BILINEAR), np.float32)
    mean_rgb = np.float32(entry("dlib_mmod")["mean_rgb"])
    pyramid = np.ascontiguousarray(((half - mean_rgb) / 256).transpose(2, 0, 1)[None])
    got = _session(data).run(None, {"pyramid": pyramid})[0]
    reference = _session(_with_onnx_helper(model).SerializeToString()).run(None, {"pyramid": pyramid})[0]
    blank = _session(data).run(None, {"pyramid": np.zeros((1, 3, 200, 200), np.float32)})[0]
    assert got.shape[:2] == (1, 1) and np.array_equal(got, reference)
    assert got.max() > 0.5 and blank.max() < 0, "the two ~80 px faces score, a flat image does not"


# sys.modules["onnx"] = None makes every later ``import onnx`` raise ImportError.
CHILD = r"""
import json, sys
sys.modules["onnx"] = None
from pathlib import Path
from models.convert import ensure_converted
out = {name: ensure_converted(name, Path(sys.argv[1]), force=True).sha256 for name in sys.argv[2:]}
print(json.dumps({"sha256": out, "onnx_loaded": [m for m in sys.modules if m.split(".")[0] == "onnx"
                                                  and sys.modules[m] is not None]}))
"""


def test_conversion_runs_without_the_onnx_package(networks, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), *BUILDERS], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    want = {name: hashlib.sha256(data).hexdigest() for name, (_, data) in networks.items()}
    assert result == {"sha256": want, "onnx_loaded": []}


def _session(data: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _with_onnx_helper(model: Model) -> onnx.ModelProto:
    """``model`` rebuilt part by part with onnx.helper and numpy_helper (the reference bytes)."""
    g = model.graph
    nodes = [helper.make_node(n.op_type, n.inputs, n.outputs, name=n.name,
                              **{a.name: list(a.value) if isinstance(a.value, tuple) else a.value
                                 for a in n.attributes})
             for n in g.nodes]
    inits = [numpy_helper.from_array(t.to_array(), t.name) for t in g.initializers]

    def value_infos(values: tuple[ValueInfo, ...]) -> list[onnx.ValueInfoProto]:
        return [helper.make_tensor_value_info(v.name, int(v.elem_type), list(v.shape)) for v in values]

    graph = helper.make_graph(nodes, g.name, value_infos(g.inputs), value_infos(g.outputs), initializer=inits)
    proto = helper.make_model(graph, producer_name=model.producer_name, producer_version=model.producer_version,
                              opset_imports=[helper.make_opsetid(o.domain, o.version)
                                             for o in model.opset_imports],
                              doc_string=model.doc_string)
    proto.ir_version = model.ir_version
    return proto
