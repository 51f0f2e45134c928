"""The dlib serialization reader: primitives from the format notes, then the three real files."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from models import source_path
from models.dlib_dnn import AddPrev, BatchNorm, Conv, FullyConnected, LossMetric, MmodOptions, Pool, read_dnn
from models.dlib_format import DlibFormatError, Reader
from models.onnx_graphs import check_plan, mmod_plan, resnet_plan


@pytest.mark.parametrize("data, value", [
    ("01 02", 2),
    ("81 0a", -10),
    ("01 96", 150),
    ("01 00", 0),
    ("02 c0 04", 1216),
    ("08 ff ff ff ff ff ff ff 7f", 2**63 - 1),
])
def test_integer_encoding(data: str, value: int) -> None:
    r = Reader(bytes.fromhex(data))
    assert r.int() == value
    assert r.at_end


@pytest.mark.parametrize("data, error", [
    ("00", "control byte"),  # zero length
    ("09 01 02 03 04 05 06 07 08 09", "control byte"),  # longer than 8 bytes
    ("11 05", "control byte"),  # bits 4-6 must be 0 (the legacy text format)
    ("02 05", "end of data"),
    ("", "end of data"),
])
def test_integer_errors(data: str, error: str) -> None:
    with pytest.raises(DlibFormatError, match=error):
        Reader(bytes.fromhex(data)).int()


@pytest.mark.parametrize("data, value", [
    ("03 0a d7 a3 81 1c", 0xA3D70A * 2.0**-28),  # the loss_metric margin (0.04 as a float)
    ("01 10 81 04", 1.0),
    ("01 10 81 05", 0.5),
    ("81 03 01 00", -3.0),
    ("01 00 02 00 7d", math.inf),  # exponent 32000
    ("01 00 02 01 7d", -math.inf),
])
def test_float_encoding_mantissa_first(data: str, value: float) -> None:
    assert Reader(bytes.fromhex(data)).float() == value


def test_float_nan_and_bool_and_string() -> None:
    assert math.isnan(Reader(bytes.fromhex("01 00 02 02 7d")).float())
    r = Reader(b"10" + bytes.fromhex("01 05") + b"con_4")
    assert (r.bool(), r.bool(), r.string()) == (True, False, "con_4")
    with pytest.raises(DlibFormatError, match="bool"):
        Reader(b"x").bool()


def test_tensor_is_raw_little_endian_float32() -> None:
    assert Reader(bytes.fromhex("01 02 01 00 01 00 01 00 01 00")).tensor().shape == (0, 0, 0, 0)
    payload = np.array([1.5, -2.0], "<f4").tobytes()
    t = Reader(bytes.fromhex("01 02 01 01 01 02 01 01 01 01") + payload).tensor()
    assert t.shape == (1, 2, 1, 1) and t.ravel().tolist() == [1.5, -2.0]


def test_resnet_file_layout() -> None:
    dnn = read_dnn(source_path("dlib_resnet_v1"))
    assert dnn.loss == LossMetric(pytest.approx(0.04), pytest.approx(0.6))
    assert dnn.input.tag == "input_rgb_image_sized" and dnn.input.size == (150, 150)
    assert np.allclose(dnn.input.avg_rgb, (122.782, 117.001, 104.298))
    assert Counter(dnn.wrappers) == {2: 107, 1: 22, 3: 1} and dnn.wrappers[-1] == 3
    kinds = Counter(type(x).__name__ for x in dnn.layers)
    assert kinds == {"Conv": 29, "Affine": 29, "Relu": 29, "AddPrev": 14, "Pool": 6, "FullyConnected": 1}
    stem = dnn.layers[0]
    assert isinstance(stem, Conv) and stem.weights.shape == (32, 3, 7, 7) and stem.padding == (0, 0)
    fc = dnn.layers[-1]
    assert isinstance(fc, FullyConnected) and fc.weights.shape == (256, 128) and fc.bias is None
    assert sum(isinstance(x, AddPrev) for x in dnn.layers) == 14
    check_plan(dnn, resnet_plan())


def test_mmod_file_layout() -> None:
    dnn = read_dnn(source_path("dlib_mmod"))
    assert isinstance(dnn.loss, MmodOptions) and dnn.loss.window == (80, 80)
    assert dnn.loss.nms_iou == pytest.approx(0.3382761351) and dnn.loss.nms_percent_covered == 1.0
    assert (dnn.input.pyramid_padding, dnn.input.outer_padding) == (10, 11)  # the old tag's defaults
    assert Counter(dnn.wrappers) == {2: 18, 3: 1}
    bns = [x for x in dnn.layers if isinstance(x, BatchNorm)]
    assert len(bns) == 6 and all(b.eps == pytest.approx(1e-4) for b in bns)
    convs = [x for x in dnn.layers if isinstance(x, Conv)]
    assert [c.weights.shape[0] for c in convs] == [16, 32, 32, 45, 45, 45, 1]
    assert [c.stride for c in convs] == [(2, 2)] * 3 + [(1, 1)] * 4
    check_plan(dnn, mmod_plan())


def test_plan_mismatch_is_refused() -> None:
    with pytest.raises(DlibFormatError, match="layout differs"):
        check_plan(read_dnn(source_path("dlib_mmod")), resnet_plan())


def test_shape_predictor_file_layout(parsed_sp5) -> None:
    sp = parsed_sp5
    assert sp.num_parts == 5
    assert sp.split_idx.shape == (15, 500, 15, 2) and sp.split_idx.max() == 799
    assert sp.leaves.shape == (15, 500, 16, 10)
    assert sp.anchor_idx.shape == (15, 800) and sp.deltas.shape == (15, 800, 2)
    assert sp.split_thresh.min() >= -64 and sp.split_thresh.max() <= 64
    assert np.allclose(sp.initial_shape[[0, 1, 8, 9]], [0.776, 0.346, 0.501, 0.658], atol=1e-3)


def test_truncated_file_names_the_offset(tmp_path) -> None:
    data = source_path("dlib_mmod").read_bytes()
    bad = tmp_path / "cut.dat"
    bad.write_bytes(data[:5000])
    with pytest.raises(DlibFormatError, match=r"cut\.dat: .* at byte \d+"):
        read_dnn(bad)


def test_pool_layers_are_parsed() -> None:
    pools = [x for x in read_dnn(source_path("dlib_resnet_v1")).layers if isinstance(x, Pool)]
    assert [(p.kind, p.size, p.stride) for p in pools] == (
        [("max", (3, 3), (2, 2))] + [("avg", (2, 2), (2, 2))] * 4 + [("avg", (0, 0), (1, 1))])
