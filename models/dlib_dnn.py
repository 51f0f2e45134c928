"""dlib DNN files (``net_type`` written by ``serialize(net)``) as dataclasses of numpy arrays.

The stream is "loss details, one version int per layer wrapper from the
outside in, the input layer, then every layer's payload in forward order"
(tag and skip wrappers carry no payload). :func:`read_dnn` reads
``dlib_face_recognition_resnet_model_v1.dat`` and
``mmod_human_face_detector.dat``. The topology (which tag a skip or an
``add_prev`` refers to) is not in the file; :mod:`models.onnx_graphs`
supplies it. Nothing here imports dlib.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.dlib_format import Reader

__all__ = [
    "Affine", "AddPrev", "BatchNorm", "Conv", "DnnFile", "FullyConnected", "InputLayer", "Layer",
    "LossMetric", "MmodOptions", "Pool", "Relu", "read_dnn",
]


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class Conv:
    """``con_``: cross-correlation. ``weights`` (O, I, kh, kw), ``bias`` (O,) or None;
    ``stride`` and ``padding`` are (y, x) in pixels."""

    weights: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    """``affine_``: ``x * gamma + beta``, per channel (mode 0) or per element (mode 1)."""

    gamma: np.ndarray
    beta: np.ndarray
    mode: int


@dataclass(frozen=True)
class BatchNorm:
    """``bn_con2``: batch norm with running statistics; dlib folds it into an affine on load."""

    gamma: np.ndarray
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    eps: float


@dataclass(frozen=True)
class Relu:
    """``relu_``: max(x, 0)."""


@dataclass(frozen=True)
class AddPrev:
    """``add_prev_``: sum with a tagged earlier output, zero-padding the smaller at the end."""


@dataclass(frozen=True)
class Pool:
    """``max_pool_2`` / ``avg_pool_2``. ``size`` (nr, nc) of (0, 0) means the whole input."""

    kind: str  # "max" | "avg"
    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class FullyConnected:
    """``fc_``: ``y = x @ weights (+ bias)``; ``weights`` is (inputs, outputs)."""

    weights: np.ndarray
    bias: np.ndarray | None


Layer = Conv | Affine | BatchNorm | Relu | AddPrev | Pool | FullyConnected


@dataclass(frozen=True)
class InputLayer:
    """The input layer: per-channel means (R, G, B, 0..255) and its own fields."""

    tag: str
    avg_rgb: tuple[float, float, float]
    size: tuple[int, int] | None  # (rows, cols) for input_rgb_image_sized
    pyramid_padding: int | None  # input_rgb_image_pyramid only
    outer_padding: int | None


@dataclass(frozen=True)
class LossMetric:
    """``loss_metric_2``: the margin and distance threshold used in training."""

    margin: float
    dist_thresh: float


@dataclass(frozen=True)
class MmodOptions:
    """``loss_mmod_`` options (version 1: one detector window, image pyramid, no box regression)."""

    window: tuple[int, int]  # (width, height) in pixels
    loss_per_false_alarm: float
    loss_per_missed_target: float
    truth_match_iou: float
    nms_iou: float
    nms_percent_covered: float
    ignore_iou: float
    ignore_percent_covered: float


@dataclass(frozen=True)
class DnnFile:
    """A parsed DNN. ``wrappers`` are the version ints from the outermost layer
    wrapper inwards (2 add_layer, 1 tag/skip, 3 the layer on the input);
    ``layers`` are the computing layers' payloads in forward order."""

    loss: LossMetric | MmodOptions
    input: InputLayer
    wrappers: tuple[int, ...]
    layers: tuple[Layer, ...]


# --------------------------------------------------------------------------- DNN


def read_dnn(path: Path) -> DnnFile:
    """Parse a dlib DNN file (``net_type`` serialized with ``serialize(net)``)."""
    r = Reader(Path(path).read_bytes(), str(path))
    if (v := r.int()) != 1:
        raise r.fail(f"loss layer version {v}, expected 1")
    loss = _read_loss(r)
    wrappers: list[int] = []
    while True:
        v = r.int()
        wrappers.append(v)
        tag = r.peek_string()
        if tag is not None and tag.startswith("input"):
            break
        if v not in (1, 2):
            raise r.fail(f"layer wrapper version {v}, expected 1 or 2")
    if wrappers[-1] not in (2, 3):
        raise r.fail(f"innermost layer version {wrappers[-1]}, expected 2 or 3")
    inp = _read_input(r)
    n_layers = sum(1 for v in wrappers[:-1] if v == 2) + 1
    layers = []
    for i in range(n_layers):
        layers.append(_read_layer(r))
        _skip_trailer(r, innermost_version=wrappers[-1] if i == 0 else None)
    if not r.at_end:
        raise r.fail(f"{len(r.data) - r.pos} unexpected bytes after the last layer")
    return DnnFile(loss, inp, tuple(wrappers), tuple(layers))


def _read_loss(r: Reader) -> LossMetric | MmodOptions:
    tag = r.expect("loss_metric_", "loss_metric_2", "loss_mmod_")
    if tag == "loss_metric_":
        return LossMetric(0.04, 0.6)
    if tag == "loss_metric_2":
        return LossMetric(r.float(), r.float())
    if (v := r.int()) != 1:
        raise r.fail(f"mmod_options version {v}; only version 1 (one window) is supported")
    window = (r.int(), r.int())
    f = [r.float() for _ in range(7)]
    return MmodOptions(window, *f)


def _read_input(r: Reader) -> InputLayer:
    tag = r.expect("input_rgb_image_sized", "input_rgb_image_pyramid", "input_rgb_image_pyramid2")
    avg = (r.float(), r.float(), r.float())
    if tag == "input_rgb_image_sized":
        return InputLayer(tag, avg, (r.int(), r.int()), None, None)
    if tag == "input_rgb_image_pyramid2":
        return InputLayer(tag, avg, None, r.int(), r.int())
    return InputLayer(tag, avg, None, 10, 11)  # the old tag implies dlib's defaults


def _skip_trailer(r: Reader, innermost_version: int | None) -> None:
    """3 bools and 3 (empty) tensors after every layer; plus the expansion factor on the input."""
    for _ in range(3):
        r.bool()
    for _ in range(3):
        r.tensor()
    if innermost_version == 3:
        r.int()  # sample_expansion_factor


def _read_layer(r: Reader) -> Layer:
    tag = r.string()
    if tag in ("con_4", "con_5", "con_6"):
        params = r.tensor().ravel()
        num_filters, nr, nc = r.int(), r.int(), r.int()
        stride = (r.int(), r.int())
        padding = (r.int(), r.int())
        o, i, kh, kw = r.alias_tensor()
        bias_shape = r.alias_tensor()
        for _ in range(4):
            r.float()
        use_bias = r.bool() if tag in ("con_5", "con_6") else True
        if tag == "con_6":
            r.bool()
        if (o, kh, kw) != (num_filters, nr, nc):
            raise r.fail(f"{tag}: filter alias {(o, i, kh, kw)} disagrees with {num_filters}x{nr}x{nc}")
        nw = o * i * kh * kw
        weights = params[:nw].reshape(o, i, kh, kw)
        bias = params[nw:nw + o] if use_bias and math.prod(bias_shape) else None
        return Conv(weights, bias, stride, padding)
    if tag in ("affine_", "affine_2"):
        params = r.tensor().ravel()
        g = math.prod(r.alias_tensor())
        r.alias_tensor()
        mode = r.int()
        if tag == "affine_2":
            r.bool()
        return Affine(params[:g], params[g:2 * g], mode)
    if tag == "bn_con2":
        params = r.tensor().ravel()
        g = math.prod(r.alias_tensor())
        r.alias_tensor()
        r.tensor(), r.tensor()  # means, invstds (training-time batch statistics)
        running_mean, running_var = r.tensor().ravel(), r.tensor().ravel()
        r.int(), r.int()  # num_updates, running_stats_window_size
        for _ in range(4):
            r.float()
        eps = r.float()
        return BatchNorm(params[:g], params[g:2 * g], running_mean, running_var, eps)
    if tag in ("relu_", "relu_2"):
        if tag == "relu_2":
            r.bool()
        return Relu()
    if tag == "add_prev_":
        return AddPrev()
    if tag in ("max_pool_2", "avg_pool_2"):
        size = (r.int(), r.int())
        stride = (r.int(), r.int())
        padding = (r.int(), r.int())
        return Pool(tag[:3], size, stride, padding)
    if tag in ("fc_2", "fc_3"):
        num_outputs, num_inputs = r.int(), r.int()
        params = r.tensor().ravel()
        r.alias_tensor(), r.alias_tensor()
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        use_bias = r.bool() if tag == "fc_3" else True
        nw = num_inputs * num_outputs
        weights = params[:nw].reshape(num_inputs, num_outputs)
        bias = params[nw:nw + num_outputs] if bias_mode == 0 and use_bias else None
        return FullyConnected(weights, bias)
    raise r.fail(f"unsupported layer {tag!r}")


