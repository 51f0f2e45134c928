/*
 * camera.dlibport._fast: the two per-face loops of the onnx engine in C, optional.
 *
 * cascade(): dlib's 5-point shape predictor (camera/dlibport/landmarks.py);
 * sample_bilinear(): dlib's bilinear chip sampling (camera/dlibport/align.py);
 * resize_level(): one level of the MMOD detector's image pyramid (camera/dlibport/mmod.py).
 *
 * Both do, value for value, what the numpy code does, and so what dlib does:
 * the same operations in the same order and precision. Built with
 * -ffp-contract=off so that no a * b + c becomes a fused multiply-add (which
 * rounds once instead of twice). numpy costs ~5 us a call whatever the array
 * size, and a face needs ~300 calls; here a face takes tens of microseconds.
 *
 * Arrays come in as C-contiguous buffers (the "y*" / "w*" formats); the
 * Python side (camera/dlibport/landmarks.py, camera/dlibport/align.py) checks shapes and
 * dtypes, this side checks sizes. The GIL is released while computing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* floor() for |v| < 2**52 without a libm call (baseline x86-64 has no roundsd);
 * callers keep v in range: anything outside +-1e15 is treated as off the image */
static inline double floor_small(double v) {
    const double t = (double)(int64_t)v;
    return t > v ? t - 1.0 : t;
}

#define IN_RANGE(v) ((v) > -1e15 && (v) < 1e15)

static int check_size(const Py_buffer *b, Py_ssize_t want, const char *name) {
    if (b->len != want) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", name, b->len, want);
        return -1;
    }
    return 0;
}

/*
 * cascade(rgb, h, w, rects, n, init, ab, deltas, anchor, splits, thresh, leaves,
 *         levels, trees, nsplit, features, parts2, out)
 *
 * rgb (h, w, 3) uint8; rects (n, 4) int64 left, top, right, bottom (inclusive);
 * init (parts2,) float32 initial shape; ab (parts2, 2) float64 (the similarity
 * transform's a, b as dot products with the shape); deltas (levels, features, 2)
 * float32; anchor (levels, features) int32 part index; splits (levels, trees,
 * nsplit, 2) int32; thresh (levels, trees, nsplit) float32; leaves (levels,
 * trees, nsplit + 1, parts2) float32. Writes the final unit-box shapes, (n,
 * parts2) float32, into out.
 */
static PyObject *cascade(PyObject *self, PyObject *args) {
    Py_buffer rgb, rects, init, ab, deltas, anchor, splits, thresh, leaves, out;
    int h, w, n, levels, trees, nsplit, features, parts2;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*iiy*iy*y*y*y*y*y*y*iiiiiw*", &rgb, &h, &w, &rects, &n, &init, &ab, &deltas,
                          &anchor, &splits, &thresh, &leaves, &levels, &trees, &nsplit, &features, &parts2, &out))
        return NULL;
    PyObject *result = NULL;
    int16_t *grey = NULL;
    float *shape_buf = NULL;
    const Py_ssize_t L = levels, T = trees, S = nsplit, F = features, P = parts2;
    if (h < 0 || w < 0 || n < 0 || L < 0 || T < 0 || S < 1 || S > 63 || F < 0 || P < 2 || P % 2) {
        PyErr_SetString(PyExc_ValueError, "cascade: bad dimensions");
        goto done;
    }
    if (check_size(&rgb, (Py_ssize_t)h * w * 3, "rgb") || check_size(&rects, n * 4 * 8, "rects") ||
        check_size(&init, P * 4, "init") || check_size(&ab, P * 2 * 8, "ab") ||
        check_size(&deltas, L * F * 2 * 4, "deltas") || check_size(&anchor, L * F * 4, "anchor") ||
        check_size(&splits, L * T * S * 2 * 4, "splits") || check_size(&thresh, L * T * S * 4, "thresh") ||
        check_size(&leaves, L * T * (S + 1) * P * 4, "leaves") || check_size(&out, n * P * 4, "out"))
        goto done;
    {
        const int32_t *a = (const int32_t *)anchor.buf;
        for (Py_ssize_t i = 0; i < L * F; i++)
            if (a[i] < 0 || a[i] >= P / 2) {
                PyErr_SetString(PyExc_ValueError, "cascade: anchor index out of range");
                goto done;
            }
    }
    grey = PyMem_RawMalloc((F ? F : 1) * sizeof(int16_t));
    shape_buf = PyMem_RawMalloc(P * sizeof(float));
    if (!grey || !shape_buf) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *px = (const uint8_t *)rgb.buf;
    const int64_t *rc = (const int64_t *)rects.buf;
    const double *abm = (const double *)ab.buf;
    const float *dl = (const float *)deltas.buf, *th = (const float *)thresh.buf, *lv = (const float *)leaves.buf;
    const int32_t *an = (const int32_t *)anchor.buf, *sp = (const int32_t *)splits.buf;
    float *res = (float *)out.buf;
    for (int face = 0; face < n; face++) {
        const double ox = (double)rc[4 * face], oy = (double)rc[4 * face + 1];
        const double sx = (double)(rc[4 * face + 2] - rc[4 * face]), sy = (double)(rc[4 * face + 3] - rc[4 * face + 1]);
        const double hx = ox + 0.5, hy = oy + 0.5;
        float *shape = shape_buf;
        memcpy(shape, init.buf, P * sizeof(float));
        for (Py_ssize_t k = 0; k < L; k++) {
            /* the similarity transform from the initial shape: [[a, -b], [b, a]], float64 then float32 */
            double da = 0.0, db = 0.0;
            for (Py_ssize_t i = 0; i < P; i++) {
                da += (double)shape[i] * abm[2 * i];
                db += (double)shape[i] * abm[2 * i + 1];
            }
            const float a = (float)da, b = (float)db;
            const float *d = dl + k * F * 2;
            const int32_t *anc = an + k * F;
            for (Py_ssize_t f = 0; f < F; f++) {
                const float dx = d[2 * f], dy = d[2 * f + 1];
                const float t1 = a * dx, t2 = b * (-dy), t3 = a * dy, t4 = b * dx;
                const float s1 = t1 + t2, s2 = t3 + t4;
                const float ux = s1 + shape[2 * anc[f]], uy = s2 + shape[2 * anc[f] + 1];
                const double vx = (double)ux * sx, vy = (double)uy * sy;
                const double qx = vx + hx, qy = vy + hy;
                int16_t g = 0;
                const double fx = IN_RANGE(qx) ? floor_small(qx) : -1.0, fy = IN_RANGE(qy) ? floor_small(qy) : -1.0;
                if (fx >= 0 && fy >= 0 && fx < (double)w && fy < (double)h) {
                    const uint8_t *p = px + ((Py_ssize_t)fy * w + (Py_ssize_t)fx) * 3;
                    g = (int16_t)(((int)p[0] + p[1] + p[2]) / 3);
                }
                grey[f] = g;
            }
            /* every tree of the level, its leaf's update added one tree after another */
            for (Py_ssize_t t = 0; t < T; t++) {
                const int32_t *st = sp + (k * T + t) * S * 2;
                const float *tt = th + (k * T + t) * S;
                Py_ssize_t node = 0;
                while (node < S) {
                    const uint32_t i1 = (uint32_t)st[2 * node], i2 = (uint32_t)st[2 * node + 1];
                    /* a bad index reads feature 0 (the Python side validates the model) */
                    const float diff = (float)(grey[i1 < (uint32_t)F ? i1 : 0] - grey[i2 < (uint32_t)F ? i2 : 0]);
                    node = diff > tt[node] ? 2 * node + 1 : 2 * node + 2;
                }
                const float *leaf = lv + ((k * T + t) * (S + 1) + (node - S)) * P;
                for (Py_ssize_t j = 0; j < P; j++)
                    shape[j] += leaf[j];
            }
        }
        memcpy(res + face * P, shape, P * sizeof(float));
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(grey);
    PyMem_RawFree(shape_buf);
    PyBuffer_Release(&rgb); PyBuffer_Release(&rects); PyBuffer_Release(&init); PyBuffer_Release(&ab);
    PyBuffer_Release(&deltas); PyBuffer_Release(&anchor); PyBuffer_Release(&splits); PyBuffer_Release(&thresh);
    PyBuffer_Release(&leaves); PyBuffer_Release(&out);
    return result;
}

/*
 * sample_bilinear(src, h, w, channels, m00, m01, m10, m11, ox, oy, rows, cols, out)
 *
 * Chip pixel (c, r) of every channel: the bilinear sample of src (h, w,
 * channels) uint8 at x = (m00 * c + m01 * r) + ox, y = (m10 * c + m11 * r) + oy,
 * truncated to uint8; 0 where the 2x2 neighbourhood leaves the source.
 * out (rows, cols, channels) uint8.
 */
static PyObject *sample_bilinear(PyObject *self, PyObject *args) {
    Py_buffer src, out;
    int h, w, ch, rows, cols;
    double m00, m01, m10, m11, ox, oy;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*iiiddddddiiw*", &src, &h, &w, &ch, &m00, &m01, &m10, &m11, &ox, &oy, &rows,
                          &cols, &out))
        return NULL;
    PyObject *result = NULL;
    if (h < 2 || w < 2 || ch < 1 || rows < 0 || cols < 0) {
        PyErr_SetString(PyExc_ValueError, "sample_bilinear: bad dimensions");
        goto done;
    }
    if (check_size(&src, (Py_ssize_t)h * w * ch, "src") || check_size(&out, (Py_ssize_t)rows * cols * ch, "out"))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *s = (const uint8_t *)src.buf;
    uint8_t *o = (uint8_t *)out.buf;
    const Py_ssize_t stride = (Py_ssize_t)w * ch;
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            const double x = (m00 * c + m01 * r) + ox, y = (m10 * c + m11 * r) + oy;
            uint8_t *dst = o + ((Py_ssize_t)r * cols + c) * ch;
            if (!(IN_RANGE(x) && IN_RANGE(y))) {
                memset(dst, 0, ch);
                continue;
            }
            const double left = floor_small(x), top = floor_small(y);
            if (!(left >= 0 && top >= 0 && left < w - 1 && top < h - 1)) {
                memset(dst, 0, ch);
                continue;
            }
            const double lr = x - left, tb = y - top, inv_lr = 1 - lr, inv_tb = 1 - tb;
            const uint8_t *tl = s + (Py_ssize_t)top * stride + (Py_ssize_t)left * ch;
            for (int k = 0; k < ch; k++) {
                double upper = (double)tl[k] * inv_lr;
                double part = (double)tl[k + ch] * lr;
                upper += part;
                double lower = (double)tl[stride + k] * inv_lr;
                part = (double)tl[stride + ch + k] * lr;
                lower += part;
                upper *= inv_tb;
                lower *= tb;
                upper += lower;
                dst[k] = (uint8_t)upper;
            }
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&out);
    return result;
}

/*
 * resize_level(canvas, channels, height, width, sx, sy, in_h, in_w, dx, dy, out_h, out_w,
 *              top, bottom, wt, wb, left, right, wl, wr)
 *
 * One level of the MMOD tiled pyramid (camera/dlibport/mmod.py resize_float_into): the
 * in_h x in_w region at (sx, sy) of every plane of canvas (channels, height,
 * width) float32 resized into the out_h x out_w region at (dx, dy). Rows
 * first: row[i] = src[top[y]][i] * wt[y] + src[bottom[y]][i] * wb[y]; then
 * out[x] = row[left[x]] * wl[x] + row[right[x]] * wr[x], all in float32. The
 * two regions must not overlap.
 */
static PyObject *resize_level(PyObject *self, PyObject *args) {
    Py_buffer canvas, top, bottom, wt, wb, left, right, wl, wr;
    int C, H, W, sx, sy, in_h, in_w, dx, dy, out_h, out_w;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*iiiiiiiiiiiy*y*y*y*y*y*y*y*", &canvas, &C, &H, &W, &sx, &sy, &in_h, &in_w, &dx,
                          &dy, &out_h, &out_w, &top, &bottom, &wt, &wb, &left, &right, &wl, &wr))
        return NULL;
    PyObject *result = NULL;
    float *row = NULL;
    if (C < 1 || H < 1 || W < 1 || in_h < 1 || in_w < 1 || out_h < 0 || out_w < 0 || sx < 0 || sy < 0 || dx < 0 ||
        dy < 0 || sx + in_w > W || sy + in_h > H || dx + out_w > W || dy + out_h > H) {
        PyErr_SetString(PyExc_ValueError, "resize_level: regions outside the canvas");
        goto done;
    }
    if (!(dx >= sx + in_w || sx >= dx + out_w || dy >= sy + in_h || sy >= dy + out_h)) {
        PyErr_SetString(PyExc_ValueError, "resize_level: the regions overlap");
        goto done;
    }
    if (check_size(&canvas, (Py_ssize_t)C * H * W * 4, "canvas") || check_size(&top, (Py_ssize_t)out_h * 4, "top") ||
        check_size(&bottom, (Py_ssize_t)out_h * 4, "bottom") || check_size(&wt, (Py_ssize_t)out_h * 4, "wt") ||
        check_size(&wb, (Py_ssize_t)out_h * 4, "wb") || check_size(&left, (Py_ssize_t)out_w * 4, "left") ||
        check_size(&right, (Py_ssize_t)out_w * 4, "right") || check_size(&wl, (Py_ssize_t)out_w * 4, "wl") ||
        check_size(&wr, (Py_ssize_t)out_w * 4, "wr"))
        goto done;
    {
        const int32_t *t = top.buf, *b = bottom.buf, *l = left.buf, *r = right.buf;
        for (int i = 0; i < out_h; i++)
            if (t[i] < 0 || t[i] >= in_h || b[i] < 0 || b[i] >= in_h) {
                PyErr_SetString(PyExc_ValueError, "resize_level: source row out of range");
                goto done;
            }
        for (int i = 0; i < out_w; i++)
            if (l[i] < 0 || l[i] >= in_w || r[i] < 0 || r[i] >= in_w) {
                PyErr_SetString(PyExc_ValueError, "resize_level: source column out of range");
                goto done;
            }
    }
    row = PyMem_RawMalloc((size_t)in_w * sizeof(float));
    if (!row) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    float *cv = (float *)canvas.buf;
    const int32_t *t = top.buf, *b = bottom.buf, *l = left.buf, *r = right.buf;
    const float *fwt = wt.buf, *fwb = wb.buf, *fwl = wl.buf, *fwr = wr.buf;
    for (int c = 0; c < C; c++) {
        float *plane = cv + (Py_ssize_t)c * H * W;
        for (int y = 0; y < out_h; y++) {
            const float *st = plane + (Py_ssize_t)(sy + t[y]) * W + sx, *sb = plane + (Py_ssize_t)(sy + b[y]) * W + sx;
            const float a = fwt[y], bw = fwb[y];
            for (int i = 0; i < in_w; i++) {
                const float up = st[i] * a, lo = sb[i] * bw;
                row[i] = up + lo;
            }
            float *d = plane + (Py_ssize_t)(dy + y) * W + dx;
            for (int x = 0; x < out_w; x++) {
                const float p = row[l[x]] * fwl[x], q = row[r[x]] * fwr[x];
                d[x] = p + q;
            }
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(row);
    PyBuffer_Release(&canvas); PyBuffer_Release(&top); PyBuffer_Release(&bottom); PyBuffer_Release(&wt);
    PyBuffer_Release(&wb); PyBuffer_Release(&left); PyBuffer_Release(&right); PyBuffer_Release(&wl);
    PyBuffer_Release(&wr);
    return result;
}

static PyMethodDef methods[] = {
    {"cascade", cascade, METH_VARARGS, "dlib's shape-predictor cascade (see camera/dlibport/landmarks.py)."},
    {"sample_bilinear", sample_bilinear, METH_VARARGS, "dlib's bilinear chip sampling (see camera/dlibport/align.py)."},
    {"resize_level", resize_level, METH_VARARGS, "one level of the MMOD tiled pyramid (see camera/dlibport/mmod.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "camera.dlibport._fast",
                                    "C loops for the onnx engine's landmarks, chips and pyramid (optional).", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fast(void) { return PyModule_Create(&module); }
