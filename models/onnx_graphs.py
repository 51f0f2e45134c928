"""ONNX graphs for dlib's face ResNet and MMOD detector, written with :mod:`models.onnx_proto`
(so converting needs no ``onnx`` package).

The ``.dat`` files hold weights but not topology (which tag a skip or an
``add_prev`` refers to), so the topology is written out here from the C++
network types (``dnn_face_recognition_ex.cpp`` and
``dnn_mmod_face_detection_ex.cpp``) and checked one-to-one against the
parsed stream before any node is emitted.

Folding: every ``affine_`` (the ResNet) and ``bn_con2`` (MMOD, folded with
``gamma / sqrt(running_var + eps)`` as dlib does on load) directly follows a
convolution and is folded into that convolution's weights and bias.
``add_prev`` zero-pads the smaller operand at the end of the channel, row and
column axes, so it becomes ``Pad`` + ``Add`` where shapes differ; except that a
strided ``avg_pool`` whose result only needs more (zero) channels becomes one
``Conv`` (weight 1/(kh*kw) from channel c to channel c, 0 elsewhere), so the
downsampling blocks stay in onnxruntime's blocked NCHWc layout and their
``Add`` + ``Relu`` fuse into the convolution (a ``Pad`` forces a layout round
trip around every following block; ~10% of the ResNet's time).

Graph interfaces:

* ResNet: input ``chips`` uint8 (N, 150, 150, 3) RGB; the graph casts and
  transposes to NCHW; ``(v - mean_rgb) / 256`` is folded into the first
  convolution (it has no padding); output
  ``descriptors`` float32 (N, 128), raw (not L2-normalised).
* MMOD: input ``pyramid`` float32 (N, 3, H, W), the already-normalised tiled
  image pyramid (:mod:`camera.dlibport.mmod`); output ``scores`` float32
  (N, 1, h, w), one 80x80-window score per cell (positive = a face).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from models.dlib_dnn import (
    AddPrev,
    Affine,
    BatchNorm,
    Conv,
    DnnFile,
    FullyConnected,
    Layer,
    Pool,
    Relu,
)
from models.dlib_format import DlibFormatError
from models.onnx_proto import DataType, Graph, Model, Node, OperatorSetId, Tensor, ValueInfo

OPSET = 17
#: onnxruntime's NCHWc block on AVX-512 (16 floats); channel counts padded to it stay in that layout.
NCHWC_BLOCK = 16
IR_VERSION = 8  # readable by onnxruntime >= 1.12
PRODUCER = "facecam.models.convert"


def resnet_plan() -> list[str]:
    """The face ResNet's forward entries, input to output (``tagN``/``skipN`` carry no payload)."""
    ares = ["tag1", "con", "affine", "relu", "con", "affine", "add_prev1", "relu"]
    ares_down = ["tag1", "con", "affine", "relu", "con", "affine", "tag2", "skip1", "avg_pool",
                 "add_prev2", "relu"]
    plan = ["con", "affine", "relu", "max_pool"]
    plan += ares * 3  # alevel4
    plan += ares_down + ares * 3  # alevel3
    plan += ares_down + ares * 2  # alevel2
    plan += ares_down + ares * 2  # alevel1
    plan += ares_down  # alevel0
    return plan + ["avg_pool", "fc"]


def mmod_plan() -> list[str]:
    """The MMOD detector's forward entries: 6 x (con, bn, relu) and the final con."""
    return ["con", "bn", "relu"] * 6 + ["con"]


_KIND = {"con": Conv, "affine": Affine, "bn": BatchNorm, "relu": Relu, "add_prev1": AddPrev,
         "add_prev2": AddPrev, "max_pool": Pool, "avg_pool": Pool, "fc": FullyConnected}


def check_plan(dnn: DnnFile, plan: list[str]) -> None:
    """Raise :class:`DlibFormatError` unless ``plan`` matches the file's wrappers and layers."""
    forward_versions = [1 if e[:3] in ("tag", "ski") else 2 for e in plan]
    stored = list(reversed(dnn.wrappers))
    stored[0] = 2  # the innermost (v3) wrapper is a plain layer
    if forward_versions != stored:
        raise DlibFormatError(f"network layout differs from the expected type: {len(stored)} wrappers "
                              f"stored, {len(plan)} expected, or tags in other places")
    computing = [e for e in plan if e[:3] not in ("tag", "ski")]
    for i, (entry, layer) in enumerate(zip(computing, dnn.layers, strict=True)):
        want = _KIND[entry]
        if not isinstance(layer, want) or (isinstance(layer, Pool) and layer.kind != entry[:3]):
            raise DlibFormatError(f"layer {i}: expected {entry}, found {type(layer).__name__}")


class _Builder:
    """Collects nodes and initialisers with deterministic names."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.inits: list[Tensor] = []
        self.count = 0

    def const(self, hint: str, value: np.ndarray) -> str:
        name = f"{hint}_{len(self.inits)}"
        self.inits.append(Tensor.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: object) -> str:
        self.count += 1
        out = output or f"{op_type.lower()}_{self.count}"
        self.nodes.append(Node.make(op_type, inputs, [out], name=f"n{self.count}_{op_type}", **attrs))
        return out


def _fold(conv: Conv, scale: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conv followed by ``y * scale[c] + shift[c]`` as one conv: (weights, bias), float32."""
    w = conv.weights * scale.astype(np.float32)[:, None, None, None]
    b = np.zeros(conv.weights.shape[0], np.float32) if conv.bias is None else conv.bias
    return w.astype(np.float32), (b * scale + shift).astype(np.float32)


def _bn_as_affine(bn: BatchNorm) -> tuple[np.ndarray, np.ndarray]:
    """dlib's bn -> affine conversion: gamma / sqrt(var + eps), beta - gamma' * mean (float32)."""
    g = bn.gamma / np.sqrt(bn.running_var + np.float32(bn.eps))
    return g.astype(np.float32), (bn.beta - g * bn.running_mean).astype(np.float32)


def _conv_node(b: _Builder, x: str, conv: Conv, w: np.ndarray, bias: np.ndarray) -> str:
    kh, kw = w.shape[2:]
    py, px = conv.padding
    return b.op("Conv", [x, b.const("w", w), b.const("b", bias)], kernel_shape=[kh, kw],
                strides=list(conv.stride), pads=[py, px, py, px])


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - k) // stride


def _run_plan(b: _Builder, x: str, shape: tuple[int, int, int], plan: list[str],
              layers: tuple[Layer, ...]) -> tuple[str, tuple[int, int, int]]:
    """Emit nodes for ``plan``; ``shape`` is (C, H, W) and is tracked for add_prev padding."""
    tags: dict[str, tuple[str, tuple[int, int, int]]] = {}
    pools: dict[str, _PooledSkip] = {}
    it = iter(layers)
    pending: Conv | None = None
    for entry in plan:
        if entry.startswith("tag"):
            tags[entry[3:]] = (x, shape)
            continue
        if entry.startswith("skip"):
            x, shape = tags[entry[4:]]
            continue
        layer = next(it)
        if isinstance(layer, Conv):
            pending = layer
            o, _, kh, kw = layer.weights.shape
            shape = (o, _conv_out(shape[1], kh, layer.stride[0], layer.padding[0]),
                     _conv_out(shape[2], kw, layer.stride[1], layer.padding[1]))
            continue
        if pending is not None:  # emit the conv, folding an affine/bn that follows it
            if isinstance(layer, (Affine, BatchNorm)):
                if isinstance(layer, Affine) and layer.mode != 0:
                    raise DlibFormatError("an affine layer after a conv must be per-channel (mode 0)")
                scale, shift = _bn_as_affine(layer) if isinstance(layer, BatchNorm) else (layer.gamma,
                                                                                         layer.beta)
                x = _conv_node(b, x, pending, *_fold(pending, scale, shift))
                pending = None
                continue
            x = _conv_node(b, x, pending, *_fold(pending, np.ones(shape[0], np.float32),
                                                 np.zeros(shape[0], np.float32)))
            pending = None
        if isinstance(layer, Relu):
            x = b.op("Relu", [x])
        elif isinstance(layer, Pool):
            source, source_shape = x, shape
            x, shape = _pool(b, x, shape, layer)
            if layer.kind == "avg" and layer.size != (0, 0):
                pools[x] = _PooledSkip(b.nodes[-1], source, source_shape, layer)
        elif isinstance(layer, AddPrev):
            y, yshape = tags[entry[-1]]
            target = tuple(max(p, q) for p, q in zip(shape, yshape, strict=True))
            x = b.op("Add", [_widen(b, x, shape, target, pools), _widen(b, y, yshape, target, pools)])
            shape = target
        elif isinstance(layer, FullyConnected):
            x = b.op("Flatten", [x], axis=1)
            x = b.op("MatMul", [x, b.const("fc_w", layer.weights.astype(np.float32))])
            if layer.bias is not None:
                x = b.op("Add", [x, b.const("fc_b", layer.bias.astype(np.float32))])
            shape = (layer.weights.shape[1], 1, 1)
        else:
            raise DlibFormatError(f"no ONNX translation for {type(layer).__name__} after a conv")
    if pending is not None:
        x = _conv_node(b, x, pending, *_fold(pending, np.ones(shape[0], np.float32),
                                             np.zeros(shape[0], np.float32)))
    return x, shape


def _pool(b: _Builder, x: str, shape: tuple[int, int, int], p: Pool) -> tuple[str, tuple[int, int, int]]:
    if p.size == (0, 0):
        if p.kind != "avg":
            raise DlibFormatError("global max pooling is not supported")
        return b.op("GlobalAveragePool", [x]), (shape[0], 1, 1)
    if p.padding != (0, 0):
        raise DlibFormatError("padded pooling is not supported (dlib excludes padding from averages)")
    op = "MaxPool" if p.kind == "max" else "AveragePool"
    y = b.op(op, [x], kernel_shape=list(p.size), strides=list(p.stride))
    return y, (shape[0], _conv_out(shape[1], p.size[0], p.stride[0], 0),
               _conv_out(shape[2], p.size[1], p.stride[1], 0))


@dataclass(frozen=True)
class _PooledSkip:
    """An emitted strided ``AveragePool``: its node, its input and its layer."""

    node: Node
    source: str
    source_shape: tuple[int, int, int]
    pool: Pool


def _widen(b: _Builder, x: str, shape: tuple[int, int, int], target: tuple[int, ...],
           pools: dict[str, _PooledSkip]) -> str:
    """``x`` zero-padded to ``target`` (dlib's add_prev); a pooled skip that only lacks
    channels is re-emitted as one Conv that pools and pads at once."""
    skip = pools.get(x)
    if skip is None or shape == target or tuple(shape[1:]) != tuple(target[1:]):
        return _pad_to(b, x, shape, target)
    b.nodes = [n for n in b.nodes if n is not skip.node]  # the pool is redone by the conv
    c, kh, kw = skip.source_shape[0], *skip.pool.size
    w = np.zeros((target[0], c, kh, kw), np.float32)
    w[np.arange(c), np.arange(c)] = np.float32(1.0 / (kh * kw))
    return b.op("Conv", [skip.source, b.const("pool_w", w), b.const("pool_b", np.zeros(target[0], np.float32))],
                kernel_shape=[kh, kw], strides=list(skip.pool.stride), pads=[0, 0, 0, 0])


def _pad_to(b: _Builder, x: str, shape: tuple[int, ...], target: tuple[int, ...]) -> str:
    """Zero-pad (C, H, W) at the end of each axis up to ``target`` (dlib's add_prev)."""
    if shape == target:
        return x
    pads = np.array([0, 0, 0, 0, 0] + [t - s for s, t in zip(shape, target, strict=True)], np.int64)
    return b.op("Pad", [x, b.const("pads", pads)])


def _model(b: _Builder, inputs: list[ValueInfo], outputs: list[ValueInfo], name: str, doc: str) -> Model:
    graph = Graph(tuple(b.nodes), name, tuple(inputs), tuple(outputs), tuple(b.inits))
    return Model(graph, IR_VERSION, (OperatorSetId("", OPSET),), producer_name=PRODUCER,
                 producer_version="1", doc_string=doc)


def build_resnet(dnn: DnnFile) -> Model:
    """The face ResNet: uint8 RGB chips (N, 150, 150, 3) -> float32 descriptors (N, 128)."""
    check_plan(dnn, resnet_plan())
    if dnn.input.size is None:
        raise DlibFormatError("the face ResNet needs a fixed-size input layer")
    rows, cols = dnn.input.size
    b = _Builder()
    x = b.op("Cast", ["chips"], to=DataType.FLOAT)
    x = b.op("Transpose", [x], perm=[0, 3, 1, 2])
    layers = dnn.layers
    first = layers[0]
    if isinstance(first, Conv) and first.padding == (0, 0):
        layers = (_fold_input_normalisation(first, dnn.input.avg_rgb),) + layers[1:]
    else:
        x = b.op("Sub", [x, b.const("mean_rgb", np.array(dnn.input.avg_rgb, np.float32).reshape(1, 3, 1, 1))])
        x = b.op("Mul", [x, b.const("inv256", np.array(1 / 256, np.float32))])
    x, shape = _run_plan(b, x, (3, rows, cols), resnet_plan(), layers)
    b.op("Identity", [x], output="descriptors")
    inputs = [ValueInfo("chips", DataType.UINT8, ("N", rows, cols, 3))]
    outputs = [ValueInfo("descriptors", DataType.FLOAT, ("N", shape[0]))]
    return _model(b, inputs, outputs, "dlib_resnet_v1",
                  "dlib face ResNet v1: RGB uint8 chips -> raw 128-d descriptors (Euclidean, 0.6)")


def _fold_input_normalisation(conv: Conv, mean_rgb: tuple[float, float, float]) -> Conv:
    """``conv`` applied to ``(v - mean) / 256`` as a conv on raw ``v`` (valid only without
    padding: padded zeros would otherwise stand for the mean colour)."""
    w = conv.weights.astype(np.float64)
    mean = np.asarray(mean_rgb, np.float32).astype(np.float64)
    bias = np.zeros(w.shape[0]) if conv.bias is None else conv.bias.astype(np.float64)
    bias = bias - (w * mean[None, :, None, None]).sum(axis=(1, 2, 3)) / 256
    return replace(conv, weights=(w / 256).astype(np.float32), bias=bias.astype(np.float32))


def build_mmod(dnn: DnnFile) -> Model:
    """The MMOD CNN: normalised tiled pyramid (N, 3, H, W) -> window scores (N, 1, h, w).

    Two rewrites keep every convolution in onnxruntime's blocked NCHWc kernels
    (the scores move by ~1e-5): the 45-channel layers get 3 zero channels
    (:func:`_pad_channels`) and the final 9x9 one-channel convolution is run as
    9 row convolutions plus a column sum (:func:`_score_conv`); ~1.5x faster.
    """
    plan = mmod_plan()
    check_plan(dnn, plan)
    layers = _pad_channels(dnn.layers, NCHWC_BLOCK)
    b = _Builder()
    x, _ = _run_plan(b, "pyramid", (3, 0, 0), plan[:-1], layers[:-1])
    last = layers[-1]
    if not isinstance(last, Conv):
        raise DlibFormatError("MMOD must end with a convolution")
    x = _score_conv(b, x, last)
    b.op("Identity", [x], output="scores")
    inputs = [ValueInfo("pyramid", DataType.FLOAT, ("N", 3, "H", "W"))]
    outputs = [ValueInfo("scores", DataType.FLOAT, ("N", 1, "h", "w"))]
    return _model(b, inputs, outputs, "dlib_mmod",
                  "dlib MMOD face detector: normalised tiled RGB pyramid -> 80x80 window scores")


def _pad_channels(layers: tuple[Layer, ...], multiple: int) -> tuple[Layer, ...]:
    """Give every conv that feeds another conv a multiple of ``multiple`` output channels.

    The added channels have zero weights, bias and batch-norm scale/shift, so
    they hold 0 after ``relu`` and the next conv's zero input weights ignore them.
    """
    out = list(layers)
    convs = [i for i, layer in enumerate(out) if isinstance(layer, Conv)]
    for i, j in zip(convs[:-1], convs[1:], strict=True):
        conv = out[i]
        o = conv.weights.shape[0]
        extra = -o % multiple
        if extra == 0:
            continue
        zeros = np.zeros(extra, np.float32)
        bias = None if conv.bias is None else np.concatenate([conv.bias, zeros])
        out[i] = replace(conv, weights=np.pad(conv.weights, ((0, extra), (0, 0), (0, 0), (0, 0))), bias=bias)
        for k in range(i + 1, j):
            layer = out[k]
            if isinstance(layer, BatchNorm):
                out[k] = replace(layer, gamma=np.concatenate([layer.gamma, zeros]),
                                 beta=np.concatenate([layer.beta, zeros]),
                                 running_mean=np.concatenate([layer.running_mean, zeros]),
                                 running_var=np.concatenate([layer.running_var, zeros + 1]))
            elif isinstance(layer, Affine) and layer.mode == 0:
                out[k] = replace(layer, gamma=np.concatenate([layer.gamma, zeros]),
                                 beta=np.concatenate([layer.beta, zeros]))
            elif not isinstance(layer, Relu):
                raise DlibFormatError(f"cannot pad channels through {type(layer).__name__}")
        nxt = out[j]
        out[j] = replace(nxt, weights=np.pad(nxt.weights, ((0, 0), (0, extra), (0, 0), (0, 0))))
    return tuple(out)


def _score_conv(b: _Builder, x: str, conv: Conv) -> str:
    """The final conv; with one output channel and stride 1 as a (1, kw) conv per kernel
    row (kh outputs, padded to a full NCHWc block) and a (kh, 1) conv that adds row r
    shifted by r: the same sum in another order, without a 1-of-16-channel NCHWc conv."""
    o, i, kh, kw = conv.weights.shape
    if o != 1 or conv.stride != (1, 1):
        return _conv_node(b, x, conv, *_fold(conv, np.ones(o, np.float32), np.zeros(o, np.float32)))
    py, px = conv.padding
    rows_out = kh + (-kh % NCHWC_BLOCK)
    w_rows = np.zeros((rows_out, i, 1, kw), np.float32)
    w_rows[:kh] = conv.weights[0].transpose(1, 0, 2)[:, :, None, :]
    rows = b.op("Conv", [x, b.const("w_rows", w_rows), b.const("b_rows", np.zeros(rows_out, np.float32))],
                kernel_shape=[1, kw], strides=[1, 1], pads=[0, px, 0, px])
    w_sum = np.zeros((1, rows_out, kh, 1), np.float32)
    w_sum[0, np.arange(kh), np.arange(kh), 0] = 1
    bias = np.zeros(1, np.float32) if conv.bias is None else conv.bias.astype(np.float32)
    return b.op("Conv", [rows, b.const("w_sum", w_sum), b.const("b_sum", bias)],
                kernel_shape=[kh, 1], strides=[1, 1], pads=[py, 0, py, 0])
