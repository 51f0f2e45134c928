"""A reader for dlib's binary serialization, written from the format notes.

dlib writes integers as a control byte (bit 7 sign, bits 0-3 length) plus
little-endian magnitude bytes, floats as a (mantissa, exponent) pair of such
integers, bools as ASCII '1'/'0', strings length-first, and tensors as raw
little-endian float32. :class:`Reader` reads those primitives; this module
also reads ``shape_predictor_5_face_landmarks.dat``
(:func:`read_shape_predictor`). The two DNN files are read by
:mod:`models.dlib_dnn`. Nothing here imports dlib.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.errors import ModelLoadError

__all__ = ["DlibFormatError", "Reader", "ShapePredictorModel", "read_shape_predictor"]


class DlibFormatError(ModelLoadError):
    """The bytes are not the dlib serialization this reader expects."""


# --------------------------------------------------------------------------- primitives


class Reader:
    """Sequential reader over dlib-serialized bytes; errors name the byte offset."""

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{self.name}: {what} at byte {self.pos}")

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def int(self, max_bytes: int = 8) -> int:
        """A signed or unsigned integer: control byte (bit 7 sign, bits 0-3 length), magnitude LE."""
        p = self.pos
        if p >= len(self.data):
            raise self.fail("unexpected end of data reading an integer")
        ctrl = self.data[p]
        n = ctrl & 0x0F
        if n == 0 or n > max_bytes or ctrl & 0x70:
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}")
        if p + 1 + n > len(self.data):
            raise self.fail("unexpected end of data inside an integer")
        v = int.from_bytes(self.data[p + 1:p + 1 + n], "little")
        self.pos = p + 1 + n
        return -v if ctrl & 0x80 else v

    def float(self) -> float:
        """A float/double stored as mantissa then exponent (both integers); value = m * 2**e."""
        m = self.int()
        e = self.int(2)
        if e == 32000:
            return math.inf
        if e == 32001:
            return -math.inf
        if e == 32002:
            return math.nan
        return math.ldexp(m, e)

    def bool(self) -> bool:
        """A bool stored as the ASCII byte '1' or '0'."""
        b = self.raw(1)
        if b not in (b"0", b"1"):
            raise self.fail(f"bad bool byte {b!r}")
        return b == b"1"

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"unexpected end of data reading {n} bytes")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def string(self) -> str:
        """A length-prefixed string (version tags are stored this way)."""
        n = self.int()
        return self.raw(n).decode("latin-1")

    def peek_string(self) -> str | None:
        """The string at the current position, without consuming it, or None."""
        saved = self.pos
        try:
            return self.string()
        except DlibFormatError:
            return None
        finally:
            self.pos = saved

    def expect(self, *tags: str) -> str:
        tag = self.string()
        if tag not in tags:
            raise self.fail(f"expected {' or '.join(map(repr, tags))}, found {tag!r}")
        return tag

    def tensor(self) -> np.ndarray:
        """A ``resizable_tensor``: version 2, dims (n, k, nr, nc), raw float32 LE data."""
        if (v := self.int()) != 2:
            raise self.fail(f"tensor version {v}, expected 2")
        shape = tuple(self.int() for _ in range(4))
        count = math.prod(shape)
        data = np.frombuffer(self.raw(4 * count), dtype="<f4")
        return data.astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        """An ``alias_tensor``: version 1 and four dims, no data."""
        if (v := self.int()) != 1:
            raise self.fail(f"alias_tensor version {v}, expected 1")
        n, k, nr, nc = (self.int() for _ in range(4))
        return n, k, nr, nc

    def float_matrix(self) -> np.ndarray:
        """A ``matrix<float>``: -nr, -nc, then row-major floats; returns (nr, nc) float32."""
        nr, nc = -self.int(), -self.int()
        if nr < 0 or nc < 0:
            raise self.fail("old-format matrix (positive dims) is not supported")
        return np.array([self.float() for _ in range(nr * nc)], np.float32).reshape(nr, nc)


# --------------------------------------------------------------------------- shape predictor


@dataclass(frozen=True)
class ShapePredictorModel:
    """A cascade of regression-tree forests (dlib's ``shape_predictor``).

    ``initial_shape`` (2p,) float32 as x0, y0, x1, y1 ... in the unit box;
    ``split_idx`` (C, T, S, 2) feature indices and ``split_thresh`` (C, T, S)
    grey-level thresholds; ``leaves`` (C, T, S+1, 2p) float32 shape updates;
    ``anchor_idx`` (C, F) landmark each feature pixel hangs from and
    ``deltas`` (C, F, 2) its offset in unit-box coordinates.
    """

    initial_shape: np.ndarray
    split_idx: np.ndarray
    split_thresh: np.ndarray
    leaves: np.ndarray
    anchor_idx: np.ndarray
    deltas: np.ndarray

    @property
    def num_parts(self) -> int:
        return int(self.initial_shape.shape[0] // 2)


def read_shape_predictor(path: Path) -> ShapePredictorModel:
    """Parse a ``shape_predictor`` file (version 1; full-depth trees of equal size)."""
    r = Reader(Path(path).read_bytes(), str(path))
    if (v := r.int()) != 1:
        raise r.fail(f"shape_predictor version {v}, expected 1")
    initial = r.float_matrix().ravel()
    n_casc = r.int()
    idx: list[list[int]] = []
    thresh: list[float] = []
    leaves: list[float] = []
    n_trees = n_splits = None
    for _ in range(n_casc):
        t = r.int()
        if n_trees not in (None, t):
            raise r.fail("cascades of different sizes are not supported")
        n_trees = t
        for _ in range(t):
            s = _read_tree(r, idx, thresh, leaves, initial.size)
            if n_splits not in (None, s):
                raise r.fail("trees of different depths are not supported")
            n_splits = s
    anchors = [[r.int() for _ in range(r.int())] for _ in range(r.int())]
    deltas = [[(r.float(), r.float()) for _ in range(r.int())] for _ in range(r.int())]
    if not r.at_end:
        raise r.fail(f"{len(r.data) - r.pos} unexpected bytes after the model")
    if len(anchors) != n_casc or len(deltas) != n_casc:
        raise r.fail("anchor/delta lists do not match the number of cascades")
    c, t, s, p2 = n_casc, n_trees or 0, n_splits or 0, initial.size
    return ShapePredictorModel(
        initial_shape=initial,
        split_idx=np.asarray(idx, np.int64).reshape(c, t, s, 2),
        split_thresh=np.asarray(thresh, np.float32).reshape(c, t, s),
        leaves=np.asarray(leaves, np.float32).reshape(c, t, s + 1, p2),
        anchor_idx=np.asarray(anchors, np.int64),
        deltas=np.asarray(deltas, np.float32),
    )


def _read_tree(r: Reader, idx: list[list[int]], thresh: list[float], leaves: list[float],
               shape_len: int) -> int:
    """Append one tree's splits and leaves to the flat lists; returns its split count."""
    rint, rfloat = r.int, r.float
    n_splits = rint()
    for _ in range(n_splits):
        idx.append([rint(), rint()])
        thresh.append(rfloat())
    n_leaves = rint()
    if n_leaves != n_splits + 1:
        raise r.fail(f"tree with {n_splits} splits has {n_leaves} leaves")
    for _ in range(n_leaves):
        if (-rint(), -rint()) != (shape_len, 1):
            raise r.fail(f"leaf is not a {shape_len}x1 matrix")
        leaves.extend(rfloat() for _ in range(shape_len))
    return n_splits
