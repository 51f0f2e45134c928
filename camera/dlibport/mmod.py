"""The numpy half of dlib's MMOD face detector: image pyramids in, boxes out.

The CNN itself runs as ONNX (:mod:`models.onnx_graphs`); this module builds
its input and reads its output the way dlib does:

* :func:`pyramid_layout` / :func:`tiled_pyramid` - dlib's
  ``input_rgb_image_pyramid<pyramid_down<6>>``: every 5/6-scaled copy of the
  normalised image ``(v - mean) / 256`` tiled on one canvas (padding 10,
  outer padding 11, gaps hold 0, the mean colour);
* :func:`pyramid_up` - ``dlib.pyramid_up`` (what ``upsample`` does before
  detection): bilinear to (2h + 1, 2w + 2) pixels;
* :func:`decode` - output cells with score > 0 become 80x80 windows centred
  at (8c + 14, 8r + 14) on the canvas, mapped back to the image level they
  fall in, sorted by score and thinned by dlib's non-maximum suppression.

Boxes are dlib rectangles: integer (left, top, right, bottom), inclusive,
in pixels of the image given to :func:`tiled_pyramid`. Resizes reproduce
dlib's sample positions (float32 lane accumulation of x, float64 rows) and,
for uint8, its arithmetic and truncation; the float pyramid interpolates in
two float32 passes, so scores match dlib's to ~1e-5.
"""

from __future__ import annotations

import math

import numpy as np

from camera.dlibport.native import native

#: pyramid_down<6>: each level is 5/6 of the previous one.
PYRAMID_N = 6
NMS_IOU = 0.3382761351109955  # from the model file's mmod_options
WINDOW = 80
Rect = tuple[int, int, int, int]


def pyramid_layout(rows: int, cols: int, padding: int = 10, outer: int = 11) -> tuple[list[Rect], int, int]:
    """Where each pyramid level sits on the canvas: (rects, canvas_rows, canvas_cols)."""
    if rows * cols == 0:
        return [], 0, 0
    rate = (PYRAMID_N - 1.0) / PYRAMID_N
    sizes = [(rows, cols)]
    nr, nc = rows, cols
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)
        if nr * nc == 0 or nr < 5:
            break
        sizes.append((nr, nc))
    total = sum(h + padding for h, _ in sizes) - 2 * padding
    height, prev_w = 0, 0
    h0, w0 = sizes[0]
    for h, w in sizes:
        if w <= w0 - prev_w - padding and (height - h0) * 2 >= total - h0:
            break
        height += h + padding
        prev_w = w
    height -= padding
    rects: list[Rect] = []
    y = outer
    i = 0
    while y < height + outer and i < len(sizes):
        h, w = sizes[i]
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    while i < len(sizes):
        h, w = sizes[i]
        x1, y1 = outer + w0 - 1, y - 1
        rect = (x1 - (w - 1), y1 - (h - 1), x1, y1)
        l0, t0, r0, b0 = rects[0]
        if max(l0, rect[0]) <= min(r0, rect[2]) and max(t0, rect[1]) <= min(b0, rect[3]):
            break  # would overlap the full-size image
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, height + 2 * outer, w0 + 2 * outer


def tiled_pyramid(rgb: np.ndarray, mean_rgb: tuple[float, float, float],
                  padding: int = 10, outer: int = 11) -> tuple[np.ndarray, list[Rect]]:
    """The network input for one RGB uint8 image: ((3, H, W) float32, level rects)."""
    rects, nr, nc = pyramid_layout(rgb.shape[0], rgb.shape[1], padding, outer)
    canvas = np.zeros((3, nr, nc), np.float32)
    if not rects:
        return canvas, rects
    x0, t, r, b = rects[0]
    mean = np.asarray(mean_rgb, np.float32).reshape(3, 1, 1)
    level = canvas[:, t:b + 1, x0:r + 1]
    np.subtract(rgb.transpose(2, 0, 1), mean, out=level)
    level /= np.float32(256)
    fast = native()
    for (pl, pt, pr, pb), (x0, t, r, b) in zip(rects[:-1], rects[1:], strict=True):
        if fast is not None:  # the same arithmetic in C (camera/dlibport/_fast.c)
            _resize_level_native(fast, canvas, (pl, pt, pr, pb), (x0, t, r, b))
            continue
        src = canvas[:, pt:pb + 1, pl:pr + 1]
        resize_float_into(src, canvas[:, t:b + 1, x0:r + 1])
    return canvas, rects


def _resize_level_native(fast, canvas: np.ndarray, src: Rect, dst: Rect) -> None:
    """:func:`resize_float_into` from the canvas region ``src`` into ``dst`` (inclusive
    rects) by ``camera.dlibport._fast.resize_level``, with the same maps and float32 weights."""
    (sl, st, sr, sb), (dl, dt, dr, db) = src, dst
    in_h, in_w, out_h, out_w = sb - st + 1, sr - sl + 1, db - dt + 1, dr - dl + 1
    if out_h <= 0 or out_w <= 0 or in_h <= 0 or in_w <= 0:
        return
    top, bottom, tb = _row_map(in_h, out_h)
    left, lr = _column_map(in_w, out_w)
    c, h, w = canvas.shape
    fast.resize_level(canvas, c, h, w, sl, st, in_h, in_w, dl, dt, out_h, out_w,
                      top.astype(np.int32), bottom.astype(np.int32), (1 - tb).astype(np.float32),
                      tb.astype(np.float32), left.astype(np.int32),
                      np.minimum(left + 1, in_w - 1).astype(np.int32), np.float32(1) - lr, np.ascontiguousarray(lr))


def pyramid_up(rgb: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_up`` with ``pyramid_down<2>``: (h, w) -> (2h + 1, 2w + 2), bilinear."""
    h, w = rgb.shape[:2]
    out_h, out_w = _lround((h - 1 + 0.75) * 2) + 1, _lround((w - 1 + 1.25) * 2) + 1
    planes = resize_bilinear(rgb.transpose(2, 0, 1).astype(np.float32), out_h, out_w, integral=True)
    return np.ascontiguousarray(planes.transpose(1, 2, 0).astype(np.uint8))


def rect_down2(rect: Rect, levels: int) -> Rect:
    """``pyramid_down<2>::rect_down(rect, levels)``, rounded with lround: undoes :func:`pyramid_up`."""
    if levels == 0:
        return rect
    x0, t, r, b = (float(v) for v in rect)
    for _ in range(levels):
        x0, t, r, b = x0 / 2.0 - 1.25, t / 2.0 - 0.75, r / 2.0 - 1.25, b / 2.0 - 0.75
    return _lround(x0), _lround(t), _lround(r), _lround(b)


def decode(scores: np.ndarray, rects: list[Rect], threshold: float = 0.0,
           nms_iou: float = NMS_IOU) -> tuple[list[Rect], list[float]]:
    """Boxes (dlib rectangles in image pixels) and scores from one (h, w) score map."""
    rows, cols = np.nonzero(scores > threshold)
    found: list[tuple[float, tuple[float, float, float, float]]] = []
    half = (WINDOW - 1) / 2.0
    ratio = PYRAMID_N / (PYRAMID_N - 1.0)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        px, py = 8.0 * c + 14, 8.0 * r + 14
        level = _nearest_rect(rects, int(px), int(py))
        ox, oy = rects[level][0], rects[level][1]
        box = [px - half - ox, py - half - oy, px + half - ox, py + half - oy]
        for _ in range(level):
            box = [v * ratio + 0.3 for v in box]
        found.append((float(scores[r, c]), (box[0], box[1], box[2], box[3])))
    found.sort(key=lambda d: -d[0])
    kept: list[Rect] = []
    kept_scores: list[float] = []
    for score, box in found:
        rect = (_lround(box[0]), _lround(box[1]), _lround(box[2]), _lround(box[3]))
        if any(_overlaps(k, rect, nms_iou) for k in kept):
            continue
        kept.append(rect)
        kept_scores.append(score)
    return kept, kept_scores


# --------------------------------------------------------------------------- helpers


def resize_float_into(src: np.ndarray, dst: np.ndarray) -> None:
    """dlib's float ``resize_image`` of (C, H, W) planes ``src`` into the planes ``dst``.

    The sample positions are dlib's exactly (float64 rows, 4-lane float32
    columns, then its scalar tail); the interpolation runs as two passes
    (rows, then columns) in float32, which differs from dlib's single
    four-weight sum by float32 rounding only (~1e-7) and is ~1.4x faster.
    """
    c, in_h, in_w = src.shape
    _, out_h, out_w = dst.shape
    if out_h == 0 or out_w == 0 or in_h == 0 or in_w == 0:
        return
    top, bottom, tb = _row_map(in_h, out_h)
    left, lr = _column_map(in_w, out_w)
    rows = src[:, top]
    rows *= (1 - tb).astype(np.float32)[:, None]
    lower = src[:, bottom]
    lower *= tb.astype(np.float32)[:, None]
    rows += lower
    cols = rows[:, :, np.minimum(left + 1, in_w - 1)]
    cols *= lr
    np.multiply(rows[:, :, left], np.float32(1) - lr, out=dst)
    dst += cols


def resize_bilinear(src: np.ndarray, out_h: int, out_w: int, integral: bool) -> np.ndarray:
    """dlib's ``resize_image`` (align-corners bilinear) on (C, H, W) planes.

    ``integral=False`` follows the float image path (float32 result);
    ``integral=True`` the RGB uint8 path (values truncated, returned as float32).
    """
    c, in_h, in_w = src.shape
    out = np.empty((c, out_h, out_w), np.float32)
    if out_h == 0 or out_w == 0 or in_h == 0 or in_w == 0:
        return out[:, :out_h, :out_w]
    xs = (in_w - 1) / max(out_w - 1, 1)
    ys = (in_h - 1) / max(out_h - 1, 1)
    y = np.add.accumulate(np.concatenate([[-ys], np.full(out_h, ys)]))[1:]  # float64, sequential
    top = np.floor(y).astype(np.intp)
    bottom = np.minimum(top + 1, in_h - 1)
    tb = y - top
    # 4-lane float32 columns: lane j starts at float(-4xs + j*xs) and adds float(4xs) per group
    groups = out_w // 4 + 2
    starts = np.array([-4 * xs + j * xs for j in range(4)], np.float32)
    steps = np.full((groups, 4), np.float32(4 * xs), np.float32)
    lanes = np.add.accumulate(np.vstack([starts[None], steps]), axis=0, dtype=np.float32)[1:]
    left = lanes.astype(np.int32)  # truncation
    stop = np.nonzero(left[:, 3] + 1 >= in_w)[0]
    n_simd = 4 * int(stop[0] if len(stop) else groups)
    n_simd = min(n_simd, out_w)
    s = src.astype(np.float32)
    if n_simd:
        lx = lanes.reshape(-1)[:n_simd]
        li = left.reshape(-1)[:n_simd].astype(np.intp)
        lr = lx - li.astype(np.float32)
        inv_lr = np.float32(1) - lr
        tb32 = tb.astype(np.float32)[:, None]
        inv_tb32 = (1 - tb).astype(np.float32)[:, None]
        tlf, trf = inv_tb32 * inv_lr, inv_tb32 * lr
        blf, brf = tb32 * inv_lr, tb32 * lr
        flat = s.reshape(c, -1)
        t_idx = top[:, None] * in_w + li[None, :]
        b_idx = bottom[:, None] * in_w + li[None, :]
        v = tlf * np.take(flat, t_idx, axis=1)
        v += trf * np.take(flat, t_idx + 1, axis=1)
        v += blf * np.take(flat, b_idx, axis=1)
        v += brf * np.take(flat, b_idx + 1, axis=1)
        out[:, :, :n_simd] = np.trunc(v) if integral else v
    if n_simd < out_w:
        x = np.add.accumulate(np.concatenate([[-xs + n_simd * xs], np.full(out_w - n_simd, xs)]))[1:]
        li = np.floor(x).astype(np.intp)
        ri = np.minimum(li + 1, in_w - 1)
        lr = x - li
        if integral:
            lr_t = lr
            s64 = s.astype(np.float64)
            tl, tr = s64[:, top][:, :, li], s64[:, top][:, :, ri]
            bl, br = s64[:, bottom][:, :, li], s64[:, bottom][:, :, ri]
        else:
            lr_t = lr.astype(np.float32)
            tl, tr = s[:, top][:, :, li], s[:, top][:, :, ri]
            bl, br = s[:, bottom][:, :, li], s[:, bottom][:, :, ri]
        upper = (1 - lr_t) * tl + lr_t * tr
        lower = (1 - lr_t) * bl + lr_t * br
        tbc = tb[:, None]
        v = (1 - tbc) * upper.astype(np.float64) + tbc * lower.astype(np.float64)
        out[:, :, n_simd:] = np.trunc(v) if integral else v
    return out


def _row_map(in_h: int, out_h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dlib's source rows for each output row: (top, bottom, fraction), fraction float64."""
    ys = (in_h - 1) / max(out_h - 1, 1)
    y = np.add.accumulate(np.concatenate([[-ys], np.full(out_h, ys)]))[1:]  # float64, sequential
    top = np.floor(y).astype(np.intp)
    return top, np.minimum(top + 1, in_h - 1), y - top


def _column_map(in_w: int, out_w: int) -> tuple[np.ndarray, np.ndarray]:
    """dlib's left source column and float32 fraction for each output column: 4-lane
    float32 positions while the lanes' right neighbours stay inside, then float64."""
    xs = (in_w - 1) / max(out_w - 1, 1)
    groups = out_w // 4 + 2
    starts = np.array([-4 * xs + j * xs for j in range(4)], np.float32)
    steps = np.full((groups, 4), np.float32(4 * xs), np.float32)
    lanes = np.add.accumulate(np.vstack([starts[None], steps]), axis=0, dtype=np.float32)[1:]
    left = lanes.astype(np.int32)  # truncation
    stop = np.nonzero(left[:, 3] + 1 >= in_w)[0]
    n_simd = min(4 * int(stop[0] if len(stop) else groups), out_w)
    lx = lanes.reshape(-1)[:n_simd]
    li = left.reshape(-1)[:n_simd].astype(np.intp)
    x = np.add.accumulate(np.concatenate([[-xs + n_simd * xs], np.full(out_w - n_simd, xs)]))[1:]
    tail = np.floor(x).astype(np.intp)
    return (np.concatenate([li, tail]),
            np.concatenate([lx - li.astype(np.float32), (x - tail).astype(np.float32)]))


def _lround(v: float) -> int:
    """C's lround: halves away from zero."""
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def _nearest_rect(rects: list[Rect], x: int, y: int) -> int:
    """dlib's nearest_rect: the first rect containing (x, y), else the closest one."""
    best, best_d = 0, math.inf
    for i, (x0, t, r, b) in enumerate(rects):
        if x0 <= x <= r and t <= y <= b:
            return i
        d = math.hypot(min(max(x, x0), r) - x, min(max(y, t), b) - y)
        if d < best_d:
            best, best_d = i, d
    return best


def _area(r: Rect) -> int:
    return max(0, r[2] - r[0] + 1) * max(0, r[3] - r[1] + 1)


def _overlaps(a: Rect, b: Rect, iou: float, percent_covered: float = 1.0) -> bool:
    """dlib's test_box_overlap: intersection over the *bounding box of both* > ``iou``,
    or over either box's area > ``percent_covered`` (pixels counted inclusively)."""
    inner = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    if inner == 0:
        return False
    outer = _area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return inner / outer > iou or inner / _area(a) > percent_covered or inner / _area(b) > percent_covered
