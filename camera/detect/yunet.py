"""YuNet (OpenCV Zoo) run by onnxruntime: a fast detector with five landmarks.

The built-in ``yunet`` is the ``yunet_2026may`` manifest entry, a fetched,
sha256-pinned file in the model directory (``scripts/fetch_models.py
yunet_2026may``); a user's own YuNet-format model is a detector entry of
``models.toml`` with ``runtime = "cv2.FaceDetectorYN"`` (the format
``cv2.FaceDetectorYN`` reads; :mod:`camera.detect.user`).

The graph is run by onnxruntime, as the other ONNX models are, and its
outputs decoded here exactly as OpenCV's ``FaceDetectorYN`` decodes them
(:func:`decode`): on this 2-core machine that takes the forward pass at 480 x
288 from 5.4 ms (OpenCV 5.0's DNN, 2 threads) to 2.7 ms. The session keeps
its activations between frames (:func:`camera.ort.make_session`), and each
thread its own input buffer, so one detector serves every inference thread.
YuNet's scores are 0..1. Its five points are converted once, in
:meth:`~camera.types.Detections.from_yunet`, to a
:class:`~camera.types.Landmarks` of scheme ``EYES_NOSE_MOUTH``; the ResNet
embedder still places dlib's 5 points itself, so descriptors stay dlib's.
``upsample`` enlarges the (downscaled) frame by 2**upsample before detection.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from camera.detect import YUNET_ENTRY
from camera.detect.base import check_rgb, downscale_for_detection, drop_small
from camera.detect.config import DetectConfig
from camera.errors import ModelLoadError
from camera.ort import LazySession, make_session
from camera.types import Detections
from models import entry
from models.fetch import verified_fetched_path

log = logging.getLogger(__name__)

#: the graph's feature strides (pixels); its input is padded to a multiple of the largest
STRIDES = (8, 16, 32)
#: its outputs per stride: class and objectness scores (n, 1), box (n, 4), five points (n, 10)
OUTPUTS = tuple(f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES)


def padded(size_px: int) -> int:
    """``size_px`` rounded up to a multiple of the largest stride (as ``cv2.FaceDetectorYN`` pads)."""
    d = STRIDES[-1]
    return ((size_px - 1) // d + 1) * d


def blob(bgr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(1, 3, H', W') float32 of ``bgr`` (H, W, 3) uint8, zero-padded right and below to multiples of 32:
    pixel values 0..255, BGR, no normalisation. Written into ``out`` when it has that shape, else into a
    new array."""
    h, w = bgr.shape[:2]
    shape = (1, 3, padded(h), padded(w))
    if out is None or out.shape != shape:
        out = np.empty(shape, np.float32)
    out[0, :, :h, :w] = bgr.transpose(2, 0, 1)
    out[0, :, h:, :] = 0.0
    out[0, :, :h, w:] = 0.0
    return out


def decode(outputs: dict[str, np.ndarray], pad_w: int, min_score: float, nms_iou: float, top_k: int) -> np.ndarray:
    """(n, 15) float32 rows ``[x, y, w, h, 5 x (px, py), score]`` in input pixels, highest score first.

    As ``cv2.FaceDetectorYN``: score = sqrt(clip(cls) * clip(obj)); for the
    cell at row ``r``, column ``c`` of stride ``s`` the box centre is
    ``((c + dx) s, (r + dy) s)``, its size ``(exp(dw) s, exp(dh) s)``, a point
    ``((c + px) s, (r + py) s)``; then non-maximum suppression at ``nms_iou``
    on the boxes truncated to whole pixels, keeping at most ``top_k``.
    """
    rows: list[np.ndarray] = []
    for s in STRIDES:
        cols = pad_w // s
        cls = np.clip(outputs[f"cls_{s}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{s}"].reshape(-1), 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= min_score)
        if keep.size == 0:
            continue
        c = (keep % cols).astype(np.float32)[:, None]
        r = (keep // cols).astype(np.float32)[:, None]
        box = outputs[f"bbox_{s}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{s}"].reshape(-1, 5, 2)[keep]
        wh = np.exp(box[:, 2:4]) * s
        centre = np.concatenate([c + box[:, 0:1], r + box[:, 1:2]], axis=1) * s
        points = (kps + np.stack([c, r], axis=2)) * s
        rows.append(np.concatenate([centre - wh / 2, wh, points.reshape(-1, 10), score[keep, None]], axis=1))
    if not rows:
        return np.zeros((0, 15), np.float32)
    faces = np.concatenate(rows).astype(np.float32)
    if len(faces) == 1:
        return faces
    boxes = [tuple(int(v) for v in f[:4]) for f in faces]
    kept = cv2.dnn.NMSBoxes(boxes, faces[:, 14].tolist(), min_score, nms_iou, top_k=top_k)
    return faces[np.asarray(kept, np.int64).reshape(-1)]


class YuNetDetector:
    """A YuNet-format ONNX model on RGB frames; boxes and landmarks in full-resolution pixels."""

    #: :meth:`detect` may run on several threads at once (camera.pipeline's inference threads)
    thread_safe = True

    def __init__(self, cfg: DetectConfig, upsample: int, model_path: Path, min_score: float = 0.9,
                 nms_iou: float = 0.3, top_k: int = 5000, threads: int | None = None) -> None:
        self.cfg = cfg
        self.upsample = upsample
        self.model_path = Path(model_path)
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.top_k = top_k
        self._session = LazySession(lambda: _checked_session(self.model_path, threads))
        self._buffers = threading.local()  # each thread's input blob, reused while the frame size stays

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in ``rgb`` (H, W, 3) uint8, highest score first."""
        check_rgb(rgb)
        small, scale = downscale_for_detection(rgb, self.cfg.detect_max_width)
        if self.upsample:
            f = 2 ** self.upsample
            small = cv2.resize(small, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
            scale /= f
        x = self._buffers.input = blob(small[:, :, ::-1], getattr(self._buffers, "input", None))
        outputs = dict(zip(OUTPUTS, self._session.get().run(OUTPUTS, {"input": x}), strict=True))
        faces = decode(outputs, x.shape[3], self.min_score, self.nms_iou, self.top_k)
        det = Detections.from_yunet(faces, scale).clipped(rgb.shape[1], rgb.shape[0])
        return drop_small(det, self.cfg.min_face_px)


def _checked_session(path: Path, threads: int | None) -> object:
    """The session for a YuNet-format model, refused unless it has YuNet's input and outputs."""
    session = make_session(path, threads, keep_activations=True)
    inputs = [i.name for i in session.get_inputs()]
    missing = sorted(set(OUTPUTS) - {o.name for o in session.get_outputs()})
    if inputs != ["input"]:
        raise ModelLoadError(f"{path} is not a YuNet-format model: its inputs are {', '.join(inputs)}; YuNet's one "
                             "input is 'input'")
    if missing:
        raise ModelLoadError(f"{path} is not a YuNet-format model: it has no output {', '.join(missing)}")
    return session


def create(cfg: DetectConfig, upsample: int, model_dir: Path, threads: int | None = None) -> YuNetDetector:
    """The registry factory of ``yunet``: the fetched, sha256-checked ``yunet_2026may`` in ``model_dir``."""
    e = entry(YUNET_ENTRY)
    return YuNetDetector(cfg, upsample, verified_fetched_path(YUNET_ENTRY, model_dir),
                         min_score=float(e["default_min_score"]), nms_iou=float(e["nms_iou"]),
                         top_k=int(e["top_k"]), threads=threads)
