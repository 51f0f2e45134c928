"""A small ONNX protobuf writer, so that converting the dlib models needs no ``onnx`` package.

Each class is one message of ``onnx.proto`` (proto2; field numbers in the
class docstrings are that file's), holding only what :mod:`models.onnx_graphs`
uses, and ``serialize()`` returns the bytes that protobuf's
``SerializeToString(deterministic=True)`` returns for the same message built
with ``onnx.helper`` / ``onnx.numpy_helper``:

* fields in field-number order;
* a field is written when ``onnx.helper`` sets it: an empty string means
  "unset" (``make_node`` skips an empty ``name``), except the fields the
  helpers always set (graph name, attribute name, operator-set domain, raw data);
* repeated scalars (``TensorProto.dims``, ``AttributeProto.ints``/``floats``)
  are unpacked, one tag per value: proto2 packs only ``[packed = true]`` fields;
* integers are varints, a negative int64 as its 64-bit two's complement
  (10 bytes); floats are little-endian IEEE float32 (fixed32);
* tensor values go in ``raw_data``: little-endian, C order (``from_array``).

``tests/onnx_engine/test_onnx_proto.py`` compares these bytes with the onnx package's.
"""

from __future__ import annotations

import math
import numbers
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

#: Protobuf wire types used here.
VARINT, LEN, FIXED32 = 0, 2, 5


class DataType(IntEnum):
    """``TensorProto.DataType``: element type of a tensor or of a graph input/output."""

    FLOAT = 1
    UINT8 = 2
    INT8 = 3
    INT32 = 6
    INT64 = 7
    BOOL = 9
    FLOAT16 = 10
    DOUBLE = 11

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype holding this type's values (native byte order)."""
        return _NUMPY[self]

    @classmethod
    def of(cls, dtype: np.dtype) -> DataType:
        """The ONNX type of numpy ``dtype`` (any byte order); ValueError for others."""
        for data_type, np_dtype in _NUMPY.items():
            if np.dtype(dtype).newbyteorder("=") == np_dtype:
                return data_type
        raise ValueError(f"no ONNX data type for numpy {np.dtype(dtype)}; "
                         f"supported: {', '.join(str(d) for d in _NUMPY.values())}")


_NUMPY = {DataType.FLOAT: np.dtype(np.float32), DataType.UINT8: np.dtype(np.uint8),
          DataType.INT8: np.dtype(np.int8), DataType.INT32: np.dtype(np.int32),
          DataType.INT64: np.dtype(np.int64), DataType.BOOL: np.dtype(np.bool_),
          DataType.FLOAT16: np.dtype(np.float16), DataType.DOUBLE: np.dtype(np.float64)}


class AttributeType(IntEnum):
    """``AttributeProto.AttributeType``, the kinds :meth:`Attribute.of` makes."""

    FLOAT = 1
    INT = 2
    STRING = 3
    FLOATS = 6
    INTS = 7


@dataclass(frozen=True)
class Attribute:
    """``AttributeProto``: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20.

    ``value`` is an int (INT), a float (FLOAT), UTF-8 bytes (STRING) or a tuple of them (INTS, FLOATS).
    """

    name: str
    type: AttributeType
    value: int | float | bytes | tuple[int, ...] | tuple[float, ...]

    @classmethod
    def of(cls, name: str, value: object) -> Attribute:
        """The attribute ``onnx.helper.make_attribute(name, value)`` makes (type inferred the same way)."""
        if isinstance(value, numbers.Integral):
            return cls(name, AttributeType.INT, int(value))
        if isinstance(value, numbers.Real):
            return cls(name, AttributeType.FLOAT, float(value))
        if isinstance(value, (str, bytes)):
            return cls(name, AttributeType.STRING, value.encode() if isinstance(value, str) else value)
        if isinstance(value, Iterable) and (items := list(value)):
            if all(isinstance(v, numbers.Integral) for v in items):
                return cls(name, AttributeType.INTS, tuple(int(v) for v in items))
            if all(isinstance(v, numbers.Real) for v in items):
                return cls(name, AttributeType.FLOATS, tuple(float(v) for v in items))
        raise TypeError(f"attribute {name!r}: expected an int, float, str or a non-empty list of ints "
                        f"or floats, got {value!r}")

    def serialize(self) -> bytes:
        """The AttributeProto's bytes."""
        match self.type, self.value:
            case AttributeType.FLOAT, float(f):
                body = float_field(2, f)
            case AttributeType.INT, int(i):
                body = int_field(3, i)
            case AttributeType.STRING, bytes(s):
                body = len_field(4, s)
            case AttributeType.FLOATS, tuple(fs):
                body = b"".join(float_field(7, f) for f in fs)
            case AttributeType.INTS, tuple(ints):
                body = b"".join(int_field(8, i) for i in ints)
            case _:
                raise TypeError(f"attribute {self.name!r}: a {self.type.name} value expected, got {self.value!r}")
        return len_field(1, self.name) + body + int_field(20, self.type)


@dataclass(frozen=True)
class Tensor:
    """``TensorProto`` with its values in ``raw_data``: dims 1, data_type 2, name 8, raw_data 9."""

    name: str
    data_type: DataType
    dims: tuple[int, ...]
    raw_data: bytes

    def __post_init__(self) -> None:
        want = math.prod(self.dims) * self.data_type.numpy.itemsize
        if len(self.raw_data) != want:
            raise ValueError(f"tensor {self.name!r}: dims {self.dims} of {self.data_type.name} need "
                             f"{want} bytes of raw_data, got {len(self.raw_data)}")

    @classmethod
    def from_array(cls, array: np.ndarray, name: str) -> Tensor:
        """``array`` as ``onnx.numpy_helper.from_array`` stores it (little-endian bytes, C order);
        unlike that, a big-endian array is accepted (and stored little-endian)."""
        data_type = DataType.of(array.dtype)
        little = np.ascontiguousarray(array, dtype=data_type.numpy.newbyteorder("<"))
        return cls(name, data_type, tuple(int(d) for d in array.shape), little.tobytes())

    def to_array(self) -> np.ndarray:
        """The values as a native-order numpy array of shape ``dims``."""
        little = np.frombuffer(self.raw_data, self.data_type.numpy.newbyteorder("<"))
        return little.astype(self.data_type.numpy).reshape(self.dims)

    def serialize(self) -> bytes:
        """The TensorProto's bytes."""
        return b"".join([*(int_field(1, d) for d in self.dims), int_field(2, self.data_type),
                         len_field(8, self.name) if self.name else b"", len_field(9, self.raw_data)])


@dataclass(frozen=True)
class Node:
    """``NodeProto``: input 1, output 2, name 3, op_type 4, attribute 5 (default domain)."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    name: str = ""
    attributes: tuple[Attribute, ...] = ()

    @classmethod
    def make(cls, op_type: str, inputs: Iterable[str], outputs: Iterable[str], name: str = "",
             **attrs: object) -> Node:
        """Like ``onnx.helper.make_node``: attributes sorted by name, ``None`` values left out."""
        return cls(op_type, tuple(inputs), tuple(outputs), name,
                   tuple(Attribute.of(k, v) for k, v in sorted(attrs.items()) if v is not None))

    def serialize(self) -> bytes:
        """The NodeProto's bytes."""
        return b"".join([*(len_field(1, i) for i in self.inputs), *(len_field(2, o) for o in self.outputs),
                         len_field(3, self.name) if self.name else b"", len_field(4, self.op_type),
                         *(len_field(5, a.serialize()) for a in self.attributes)])


@dataclass(frozen=True)
class ValueInfo:
    """``ValueInfoProto`` of a tensor, as ``onnx.helper.make_tensor_value_info`` makes it.

    ``shape`` holds a size (int, ``dim_value``) or a symbolic name (str,
    ``dim_param``) per axis. Written as name 1, type 2 (``TypeProto.tensor_type`` 1:
    elem_type 1, shape 2 (``TensorShapeProto.dim`` 1: dim_value 1 | dim_param 2)).
    """

    name: str
    elem_type: DataType
    shape: tuple[int | str, ...]

    def __post_init__(self) -> None:
        bad = [d for d in self.shape if isinstance(d, bool) or not isinstance(d, (int, str))]
        if bad:
            raise TypeError(f"value {self.name!r}: each dim must be an int or a str, got {bad}")

    def serialize(self) -> bytes:
        """The ValueInfoProto's bytes."""
        dims = b"".join(len_field(1, int_field(1, d) if isinstance(d, int) else len_field(2, d))
                        for d in self.shape)
        tensor_type = int_field(1, self.elem_type) + len_field(2, dims)
        return len_field(1, self.name) + len_field(2, len_field(1, tensor_type))


@dataclass(frozen=True)
class OperatorSetId:
    """``OperatorSetIdProto``: domain 1 (written even when empty, as ``make_opsetid`` does), version 2."""

    domain: str
    version: int

    def serialize(self) -> bytes:
        """The OperatorSetIdProto's bytes."""
        return len_field(1, self.domain) + int_field(2, self.version)


@dataclass(frozen=True)
class Graph:
    """``GraphProto``: node 1, name 2, initializer 5, input 11, output 12."""

    nodes: tuple[Node, ...]
    name: str
    inputs: tuple[ValueInfo, ...]
    outputs: tuple[ValueInfo, ...]
    initializers: tuple[Tensor, ...] = ()

    def serialize(self) -> bytes:
        """The GraphProto's bytes."""
        return b"".join([*(len_field(1, n.serialize()) for n in self.nodes), len_field(2, self.name),
                         *(len_field(5, t.serialize()) for t in self.initializers),
                         *(len_field(11, v.serialize()) for v in self.inputs),
                         *(len_field(12, v.serialize()) for v in self.outputs)])


@dataclass(frozen=True)
class Model:
    """``ModelProto``: ir_version 1, producer_name 2, producer_version 3, doc_string 6,
    graph 7, opset_import 8 (``onnx.helper.make_model`` with those keywords)."""

    graph: Graph
    ir_version: int
    opset_imports: tuple[OperatorSetId, ...]
    producer_name: str = ""
    producer_version: str = ""
    doc_string: str = ""

    def serialize(self) -> bytes:
        """The ModelProto's bytes: what ``SerializeToString(deterministic=True)`` gives, a ``.onnx`` file."""
        strings = [len_field(f, s) if s else b"" for f, s in
                   ((2, self.producer_name), (3, self.producer_version), (6, self.doc_string))]
        return b"".join([int_field(1, self.ir_version), *strings, len_field(7, self.graph.serialize()),
                         *(len_field(8, o.serialize()) for o in self.opset_imports)])


def varint(value: int) -> bytes:
    """``value`` as a base-128 varint, low 7 bits first; a negative int64 as its
    64-bit two's complement (always 10 bytes), as protobuf writes int64 fields."""
    if not -(1 << 63) <= value < (1 << 64):
        raise ValueError(f"varint out of range: expected -2**63 <= value < 2**64, got {value}")
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    """A field's key: ``field << 3 | wire_type`` as a varint."""
    if field < 1:
        raise ValueError(f"field numbers start at 1, got {field}")
    return varint(field << 3 | wire_type)


def int_field(field: int, value: int) -> bytes:
    """An int32/int64/enum field (wire type 0)."""
    return tag(field, VARINT) + varint(int(value))


def len_field(field: int, data: bytes | str) -> bytes:
    """A string (UTF-8), bytes or nested-message field: key, byte length, bytes (wire type 2)."""
    raw = data.encode() if isinstance(data, str) else data
    return tag(field, LEN) + varint(len(raw)) + raw


def float_field(field: int, value: float) -> bytes:
    """A float field: IEEE float32, little-endian (wire type 5)."""
    return tag(field, FIXED32) + struct.pack("<f", value)
