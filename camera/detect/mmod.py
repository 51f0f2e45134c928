"""dlib's MMOD CNN face detector on onnxruntime (registry name ``mmod``, alias ``cnn``).

dlib's tiled image pyramid, ``pyramid_up`` for ``upsample`` and its
non-maximum suppression come from :mod:`camera.dlibport.mmod`; the network is
dlib's ``mmod_human_face_detector.dat`` converted once into the model
directory by :mod:`models.convert`. Scores are MMOD's raw window scores
(> 0 is a face). No landmarks: the embedder places its own. The boxes equal
dlib's ``cnn_face_detection_model_v1`` (IoU 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from camera.detect.base import check_rgb, downscale_for_detection, drop_small
from camera.detect.config import DetectConfig
from camera.dlibport.mmod import decode, pyramid_up, rect_down2, tiled_pyramid
from camera.errors import ModelLoadError
from camera.ort import LazySession, SessionFactory, make_session
from camera.types import Detections
from models import entry
from models.convert import ensure_converted

MMOD_ENTRY = "dlib_mmod"


class MmodDetector:
    """dlib's MMOD face detector on onnxruntime.

    ``session_factory`` returns an onnxruntime session of the converted
    ``dlib_mmod.onnx``; ``mean_rgb`` is the network's per-channel mean (0..255);
    ``upsample`` the times the (downscaled) frame is doubled.
    """

    #: may run on several threads at once (camera.pipeline's inference threads): state is read-only
    thread_safe = True

    def __init__(self, cfg: DetectConfig, upsample: int, session_factory: SessionFactory,
                 mean_rgb: tuple[float, float, float], min_score: float = 0.0) -> None:
        self.cfg = cfg
        self.upsample = upsample
        self.mean_rgb = mean_rgb
        self.min_score = min_score
        self._session = LazySession(session_factory)

    def with_settings(self, cfg: DetectConfig, upsample: int) -> MmodDetector:
        """A detector with other settings that shares this one's network session."""
        return MmodDetector(cfg, upsample, self._session.get, self.mean_rgb, self.min_score)

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in ``rgb`` (H, W, 3) uint8, boxes in its pixels, highest score first."""
        return self.detect_batch([rgb])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """:meth:`detect` for several images; same-sized ones share one network run."""
        prepared = []
        for rgb in images:
            check_rgb(rgb)
            small, scale = downscale_for_detection(rgb, self.cfg.detect_max_width)
            for _ in range(self.upsample):
                small = pyramid_up(small)
            canvas, rects = tiled_pyramid(small, self.mean_rgb)
            prepared.append((canvas, rects, scale))
        maps: list[np.ndarray | None] = [None] * len(prepared)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, (canvas, rects, _) in enumerate(prepared):
            if rects:
                by_shape.setdefault(canvas.shape, []).append(i)
        for idx in by_shape.values():
            # one image: a view, not a copy of its ~10 MB canvas
            batch = prepared[idx[0]][0][None] if len(idx) == 1 else np.stack([prepared[i][0] for i in idx])
            out = self._session.get().run(["scores"], {"pyramid": batch})[0]
            for j, i in enumerate(idx):
                maps[i] = out[j, 0]
        results = []
        for rgb, (_, rects, scale), score_map in zip(images, prepared, maps, strict=True):
            if score_map is None:
                results.append(Detections.empty())
                continue
            boxes, scores = decode(score_map, rects, self.min_score)
            boxes = [rect_down2(b, self.upsample) for b in boxes]
            det = Detections.from_ltrb(boxes, scores, scale, rgb.shape[1], rgb.shape[0])
            results.append(drop_small(det, self.cfg.min_face_px))
        return results


def create(cfg: DetectConfig, upsample: int, model_dir: Path, threads: int | None = None) -> MmodDetector:
    """The registry factory: converts dlib's MMOD model into ``model_dir`` if needed; ``threads`` per
    session (``None``: one per core)."""
    try:
        converted = ensure_converted(MMOD_ENTRY, model_dir)
    except OSError as exc:
        raise ModelLoadError(f"cannot write converted models to {model_dir}: {exc}") from exc
    m = entry(MMOD_ENTRY)
    mean_rgb = tuple(float(np.float32(v)) for v in m["mean_rgb"])
    return MmodDetector(cfg, upsample, lambda: make_session(converted.path, threads), mean_rgb,  # type: ignore[arg-type]
                        float(m["default_min_score"]))
