"""Face chips as dlib's ``get_face_chip`` cuts them (150x150 RGB, padding 0.25).

The chip is the similarity transform that puts the five landmarks of
:mod:`camera.dlibport.landmarks` onto dlib's 5-point template.
:func:`face_chips_from_landmarks` cuts the same chip from a detector's own
five points (YuNet's), through a template of where those points sit in
dlib's chip, without running the shape predictor. As in dlib's
``extract_image_chips``, a face whose chip rectangle is more than about
twice the chip size is first reduced with dlib's ``pyramid_down<2>`` (5-tap
[1 4 6 4 1] filter, integer division by 256, (n - 3) / 2 pixels per side)
over the region around the face, and sampled from the deepest level that is
still larger than the chip. Sampling is bilinear in float64 and truncated to
uint8, pixels whose 2x2 neighbourhood leaves the source are black.

Why numpy and not ``cv2.warpAffine``/``cv2.remap``: OpenCV quantises sample
positions to 1/32 pixel and rounds instead of truncating, which moves pixels
at sharp edges by several grey levels; the numpy path reproduces dlib's chip
exactly (see tests/onnx_engine/test_landmarks_align.py), which keeps stored
dlib-made embeddings valid. (The pyramid does use OpenCV: its float32 filter
sums are exact integers.) A 150x150 chip takes ~1 ms in numpy, ~0.1 ms with
the same loop in C where ``camera.dlibport._fast`` is built (:mod:`camera.dlibport.native`).
Coordinates are (x, y) pixels; angles are radians.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from camera.dlibport.native import native
from camera.dlibport.transform import similarity_transform
from camera.types import Landmarks, LandmarkScheme

CHIP_SIZE = 150
CHIP_PADDING = 0.25

#: dlib's 5-point template in the unit square (parts 0..4), before padding.
TEMPLATE_5 = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])

#: Where YuNet's five points (:attr:`~camera.types.LandmarkScheme.EYES_NOSE_MOUTH` order: image-left eye
#: centre, image-right eye centre, nose tip, image-left and image-right mouth corner) sit in dlib's chip, in
#: :data:`TEMPLATE_5`'s unit square (before padding). Measured, not designed: the mean of
#: :func:`template_coordinates` of YuNet's points in the chips dlib's 5 points make, over the subject's face
#: (the one nearest the centre) of each of the 3,443 LFW View 1 DevTrain photos
#: (``scripts/bench_yunet_chips.py``); DevTest was kept out of it. Each point's spread about it is 3-5 chip
#: pixels (the nose tip's 8 across).
TEMPLATE_EYES_NOSE_MOUTH = np.array([
    [0.2187, 0.1994],
    [0.7883, 0.2080],
    [0.5000, 0.5309],
    [0.2607, 0.7787],
    [0.7446, 0.7839],
])

#: each landmark scheme's template, in :data:`TEMPLATE_5`'s unit square
TEMPLATES: dict[LandmarkScheme, np.ndarray] = {
    LandmarkScheme.DLIB_5: TEMPLATE_5,
    LandmarkScheme.EYES_NOSE_MOUTH: TEMPLATE_EYES_NOSE_MOUTH,
}


@dataclass(frozen=True)
class ChipDetails:
    """Where a chip comes from: ``rect`` (left, top, right, bottom) float pixels,
    inclusive, before rotation by ``angle`` (radians) about its centre; the chip
    is ``rows`` x ``cols`` pixels."""

    rect: tuple[float, float, float, float]
    angle: float
    rows: int
    cols: int


def face_chip_details(parts: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING,
                      template: np.ndarray = TEMPLATE_5) -> ChipDetails:
    """dlib's ``get_face_chip_details`` for 5 landmarks ``parts`` (5, 2) in pixels.

    ``template`` says where the 5 points go, in :data:`TEMPLATE_5`'s unit square and the
    same order as ``parts`` (dlib's own by default; :data:`TEMPLATES` has one per scheme)."""
    parts = np.asarray(parts, np.float64)
    if parts.shape != (5, 2):
        raise ValueError(f"parts: expected (5, 2) landmarks, got {parts.shape}")
    if np.shape(template) != (5, 2):
        raise ValueError(f"template: expected (5, 2) points, got {np.shape(template)}")
    chip_pts = (padding + np.asarray(template, np.float64)) / (2 * padding + 1) * size
    m, t = similarity_transform(chip_pts, parts)
    px, py = m[0, 0], m[1, 0]  # the image of (1, 0)
    angle = math.atan2(py, px)
    scale = math.sqrt(px * px + py * py)
    cx, cy = m @ np.array([size / 2.0, size / 2.0]) + t
    half_w, half_h = (size * scale - 1) / 2, (size * scale - 1) / 2
    return ChipDetails((cx - half_w, cy - half_h, cx + half_w, cy + half_h), angle, size, size)


def face_chip(rgb: np.ndarray, parts: np.ndarray, size: int = CHIP_SIZE,
              padding: float = CHIP_PADDING) -> np.ndarray:
    """The (size, size, 3) uint8 chip for one face's 5 landmarks, as ``dlib.get_face_chip``."""
    return extract_chip(rgb, face_chip_details(parts, size, padding))


def face_chips(rgb: np.ndarray, parts: np.ndarray, size: int = CHIP_SIZE,
               padding: float = CHIP_PADDING) -> np.ndarray:
    """Chips for (n, 5, 2) landmarks: (n, size, size, 3) uint8, each cut on its own."""
    parts = np.asarray(parts).reshape(-1, 5, 2)
    out = np.zeros((len(parts), size, size, rgb.shape[2]), np.uint8)
    for i, p in enumerate(parts):
        out[i] = face_chip(rgb, p, size, padding)
    return out


def face_chips_from_landmarks(rgb: np.ndarray, landmarks: Landmarks, size: int = CHIP_SIZE,
                              padding: float = CHIP_PADDING, template: np.ndarray | None = None) -> np.ndarray:
    """Chips (n, size, size, 3) uint8 cut straight from a detector's five points, no shape predictor.

    ``landmarks`` in pixels of ``rgb``; each face's points are put onto
    ``template`` (default: :data:`TEMPLATES` for ``landmarks.scheme``, in the
    scheme's own point order) by a least-squares similarity transform, and the
    chip is cut as :func:`face_chip` cuts dlib's. With ``DLIB_5`` landmarks this
    is :func:`face_chips` exactly; with YuNet's it is the chip dlib's 5 points
    would give, as far as YuNet's points sit where they sit on average.
    """
    if not isinstance(landmarks, Landmarks):
        raise TypeError(f"landmarks: expected Landmarks, got {type(landmarks).__name__}")
    tmpl = TEMPLATES[landmarks.scheme] if template is None else np.asarray(template, np.float64)
    points = landmarks.points.astype(np.float64)
    out = np.zeros((len(points), size, size, rgb.shape[2]), np.uint8)
    for i, p in enumerate(points):
        out[i] = extract_chip(rgb, face_chip_details(p, size, padding, tmpl))
    return out


def template_coordinates(parts: np.ndarray, points: np.ndarray, padding: float = CHIP_PADDING) -> np.ndarray:
    """Where image ``points`` (n, k, 2) pixels sit in the chips dlib's 5 ``parts`` (n, 5, 2) define, (n, k, 2).

    In :data:`TEMPLATE_5`'s unit square (``padding`` as the chip's): the inverse
    of :func:`face_chip_details`'s transform, so ``parts`` themselves land near
    :data:`TEMPLATE_5`. The mean over many faces of another detector's points is
    that detector's template (:data:`TEMPLATE_EYES_NOSE_MOUTH`).
    """
    parts = np.asarray(parts, np.float64).reshape(-1, 5, 2)
    points = np.asarray(points, np.float64)
    if points.ndim != 3 or points.shape[0] != len(parts) or points.shape[2] != 2:
        raise ValueError(f"points: expected ({len(parts)}, k, 2), got {points.shape}")
    unit_pts = (padding + TEMPLATE_5) / (2 * padding + 1)  # the chip of size 1
    m, t = similarity_transform(np.broadcast_to(unit_pts, parts.shape), parts)
    inside = np.einsum("nij,nkj->nki", np.linalg.inv(m), points - t[:, None])
    return inside * (2 * padding + 1) - padding


def extract_chip(img: np.ndarray, d: ChipDetails) -> np.ndarray:
    """dlib's ``extract_image_chip`` with bilinear interpolation, for one chip."""
    x0, t, r, b = d.rect
    target = d.rows * d.cols
    if d.angle == 0 and d.rows == b - t + 1 and d.cols == r - x0 + 1:
        return _copy_rect(img, tuple(_lround(v) for v in d.rect))
    # how deep the pyramid must go, and the region it is built over
    rect = _rect_down(d.rect)
    depth, grow = 0, 2.0
    while _area(rect) > target:
        rect = _rect_down(rect)
        depth += 1
        grow = grow * 2 + 2
    corners = _rotated_corners(d.rect, d.angle, ("tl", "tr", "bl", "br"))
    h, w = img.shape[:2]
    gl, gt = corners[:, 0].min() - grow, corners[:, 1].min() - grow
    gr, gb = corners[:, 0].max() + grow, corners[:, 1].max() + grow
    box = (max(gl, 0), max(gt, 0), min(gr, w - 1), min(gb, h - 1))
    if box[0] > box[2] or box[1] > box[3]:
        return np.zeros((d.rows, d.cols) + img.shape[2:], np.uint8)
    bl, bt, br, bb = (_lround(v) for v in box)
    src = img[bt:bb + 1, bl:br + 1]
    for _ in range(depth):
        src = pyramid_down2(src)
    # the chip rectangle in the coordinates of the level sampled from
    rect = (x0 - bl, t - bt, r - bl, b - bt)
    while _area(_rect_down(rect)) > target:
        rect = _rect_down(rect)
    a, bb_, c = _rotated_corners(rect, d.angle, ("tl", "tr", "bl"))
    m = np.column_stack([(bb_ - a) / (d.cols - 1), (c - a) / (d.rows - 1)])
    return _sample_bilinear(src, m, a, d.rows, d.cols)


def pyramid_down2(img: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_down<2>`` on uint8 images: 5-tap [1 4 6 4 1] filter each way,
    ``// 256``, every other pixel; output ((h - 3) // 2, (w - 3) // 2).

    OpenCV filters in float32, which holds every sum exactly (at most 255 * 256);
    only windows that lie wholly inside the image are kept, so its border rule
    does not matter."""
    h, w = img.shape[:2]
    if h <= 8 or w <= 8:
        return np.zeros((0, 0) + img.shape[2:], np.uint8)
    nc, nr = (w - 3) // 2, (h - 3) // 2
    full = cv2.sepFilter2D(img, cv2.CV_32F, _PYR_TAPS, _PYR_TAPS, borderType=cv2.BORDER_CONSTANT)
    # the sums are exact integers below 2**16: ``>> 8`` is dlib's ``/ 256`` (numpy's float
    # floor_divide would take 3x as long as the filter itself)
    return (full[2:2 + 2 * nr:2, 2:2 + 2 * nc:2].astype(np.uint16) >> 8).astype(np.uint8)


_PYR_TAPS = np.array([1, 4, 6, 4, 1], np.float32)


# --------------------------------------------------------------------------- helpers


def _lround(v: float) -> int:
    """C's lround: halves away from zero."""
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def _area(rect: tuple[float, float, float, float]) -> float:
    x0, t, r, b = rect
    if x0 > r or t > b:
        return 0.0
    return (r - x0 + 1) * (b - t + 1)


def _rect_down(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """pyramid_down<2>::rect_down: each corner p / 2 - (1.25, 0.75)."""
    x0, t, r, b = rect
    return (x0 / 2.0 - 1.25, t / 2.0 - 0.75, r / 2.0 - 1.25, b / 2.0 - 0.75)


def _rotated_corners(rect: tuple[float, float, float, float], angle: float,
                     which: tuple[str, ...]) -> np.ndarray:
    """Corners of ``rect`` rotated by ``angle`` about its centre, (k, 2)."""
    x0, t, r, b = rect
    cx, cy = (x0 + r) / 2.0, (t + b) / 2.0
    pts = {"tl": (x0, t), "tr": (r, t), "bl": (x0, b), "br": (r, b)}
    s, c = math.sin(angle), math.cos(angle)
    out = []
    for k in which:
        x, y = pts[k][0] - cx, pts[k][1] - cy
        out.append((c * x - s * y + cx, s * x + c * y + cy))
    return np.array(out, np.float64)


def _copy_rect(img: np.ndarray, rect: tuple[int, ...]) -> np.ndarray:
    """dlib's basic_extract_image_chip: a plain crop, black where it leaves the image."""
    x0, t, r, b = rect
    out = np.zeros((b - t + 1, r - x0 + 1) + img.shape[2:], np.uint8)
    h, w = img.shape[:2]
    il, it, ir, ib = max(x0, 0), max(t, 0), min(r, w - 1), min(b, h - 1)
    if il <= ir and it <= ib:
        out[it - t:ib - t + 1, il - x0:ir - x0 + 1] = img[it:ib + 1, il:ir + 1]
    return out


def _sample_bilinear(src: np.ndarray, m: np.ndarray, origin: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Chip pixel (c, r) = bilinear sample of ``src`` at ``m @ (c, r) + origin``, truncated.

    dlib's ``interpolate_bilinear`` in float64 and in its order of operations.
    The sample grid comes from two outer sums (the products are those of
    ``m @ (c, r)``). One channel at a time (numpy is slow on a length-3 inner
    axis, and a plane's temporaries stay in cache): the four neighbours are
    gathered as uint8 through one flat index each and only then made float64. Pixels whose
    neighbourhood leaves the source get zero weights, so exactly 0.
    """
    h, w = src.shape[:2]
    if h < 2 or w < 2:
        return np.zeros((rows, cols) + src.shape[2:], np.uint8)
    (m00, m01), (m10, m11) = m.tolist()
    fast = native()
    if fast is not None:  # the same arithmetic in C (camera/dlibport/_fast.c)
        out = np.empty((rows, cols) + src.shape[2:], np.uint8)
        channels = src.shape[2] if src.ndim == 3 else 1
        fast.sample_bilinear(np.ascontiguousarray(src), h, w, channels, m00, m01, m10, m11,
                             float(origin[0]), float(origin[1]), rows, cols, out)
        return out
    c, r = _chip_axes(rows, cols)
    x = np.add(m00 * c, m01 * r).reshape(-1)
    x += float(origin[0])
    y = np.add(m10 * c, m11 * r).reshape(-1)
    y += float(origin[1])
    left, top = np.floor(x), np.floor(y)
    outside = ~((left >= 0) & (top >= 0) & (left < w - 1) & (top < h - 1))
    lr = np.subtract(x, left, out=x)
    tb = np.subtract(y, top, out=y)
    inv_lr, inv_tb = 1 - lr, 1 - tb
    inv_tb[outside] = 0
    tb[outside] = 0
    top *= w
    top += left
    top[outside] = 0
    tl_idx = top.astype(np.intp)
    tr_idx, bl_idx, br_idx = tl_idx + 1, tl_idx + w, tl_idx + (w + 1)
    planes = cv2.split(np.ascontiguousarray(src)) if src.ndim == 3 else [np.ascontiguousarray(src)]
    chip = []
    for plane in planes:
        plane = plane.reshape(-1)
        # (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br): uint8 samples
        # times float64 weights (exact), in place where numpy allows
        upper = np.multiply(plane.take(tl_idx), inv_lr)
        part = np.multiply(plane.take(tr_idx), lr)
        upper += part
        lower = np.multiply(plane.take(bl_idx), inv_lr)
        np.multiply(plane.take(br_idx), lr, out=part)
        lower += part
        upper *= inv_tb
        lower *= tb
        upper += lower
        chip.append(upper.astype(np.uint8).reshape(rows, cols))  # truncation, like static_cast
    if src.ndim == 2:
        return chip[0]
    return cv2.merge(chip).reshape(rows, cols, -1)


@functools.lru_cache(maxsize=4)
def _chip_axes(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Column numbers (cols,) and row numbers (rows, 1), float64 (read-only, cached)."""
    c = np.arange(cols, dtype=np.float64)
    r = np.arange(rows, dtype=np.float64)[:, None]
    c.flags.writeable = r.flags.writeable = False
    return c, r
