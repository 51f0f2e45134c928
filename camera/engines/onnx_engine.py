"""The ``onnx`` engine: dlib's face models without dlib (onnxruntime + numpy).

* :class:`OnnxDetector` - the MMOD CNN (``model="mmod"``, alias ``"cnn"``)
  through onnxruntime, with dlib's tiled image pyramid, ``pyramid_up`` for
  ``upsample`` and dlib's non-maximum suppression (:mod:`camera.mmod`).
  Scores are MMOD's raw window scores (> 0 is a face). There is no HOG
  detector here: ``model="hog"`` raises :class:`ModelLoadError`.
  ``model="yunet"`` uses a fetched extra detector (:data:`EXTRA_DETECTORS`,
  :mod:`camera.engines.yunet`); any other name is a detector entry of the
  user's ``models.toml`` (:class:`~camera.engines.user_models.DetectorSpec`),
  run by the entry's runtime (:data:`DETECTOR_RUNTIMES`).
* :class:`OnnxEmbedder` - 5-point landmarks (:mod:`camera.landmarks`), the
  150x150 chip (:mod:`camera.align`) and the face ResNet, batched over faces.
  Its ``model_id`` is the dlib engine's: the descriptors agree with dlib's
  within 1e-4 (Euclidean), so galleries enrolled with either stay valid.

Models are converted once into ``cache_dir`` by :mod:`models.convert`.
Nothing on this path imports dlib or face_recognition.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from camera.align import face_chips
from camera.engines.base import DetectorSettings, Engine, downscale_for_detection, drop_small
from camera.errors import ModelLoadError
from camera.landmarks import ShapePredictor
from camera.mmod import decode, pyramid_up, rect_down2, tiled_pyramid
from camera.types import Detections, Embeddings
from models import entry

log = logging.getLogger(__name__)

RESNET_ENTRY = "dlib_resnet_v1"
MMOD_ENTRY = "dlib_mmod"
SP5_ENTRY = "dlib_sp5"

#: Faces per ResNet run (dlib's compute_face_descriptor uses 16 too).
EMBED_BATCH = 16

SessionFactory = Callable[[], "object"]

#: How long (microseconds) onnxruntime's idle workers spin before they sleep.
SPIN_US = 200
#: The first onnxruntime with ``session.intra_op.spin_duration_us`` (1.24 lacks it, 1.26 has it).
SPIN_BOUNDED_SINCE = (1, 26)


def _version_at_least(version: str, least: tuple[int, int]) -> bool:
    """``"1.32.0"`` >= ``(1, 26)``; an unparsable version counts as older."""
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= least


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session for ``path``: one intra-op thread per core,
    sequential execution, full graph optimisation, worker threads that spin at
    most :data:`SPIN_US` microseconds once a run is over (the cores are shared
    with capture and other processes; without that bound, no spinning)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelLoadError(f"the onnx engine needs onnxruntime (pip install onnxruntime): {exc}") from exc
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or cpu_cores()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if _version_at_least(ort.__version__, SPIN_BOUNDED_SINCE):
        # workers spin between a run's operators instead of sleeping and being woken for each
        # one (~0.6 ms of a ~5 ms descriptor on 2 cores), and stop SPIN_US after the run ends
        so.add_session_config_entry("session.intra_op.allow_spinning", "1")
        so.add_session_config_entry("session.intra_op.spin_duration_us", str(SPIN_US))
    else:  # older onnxruntime spins without a bound: that would burn a core between frames
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    # Frames vary in size, and onnxruntime's memory pattern plans one block per input shape and keeps it:
    # without it `facecam run` on the hamilton clip peaks at 225 MB instead of 263 MB, at the same speed
    # (turning the whole arena off instead raised the peak to 301 MB).
    so.enable_mem_pattern = False
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelLoadError(f"onnxruntime cannot load {path}: {exc}") from exc


class _Lazy:
    """Builds a session on first use (constructors stay cheap)."""

    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory
        self._session = None

    def get(self):
        if self._session is None:
            self._session = self._factory()
        return self._session


class OnnxDetector:
    """dlib's MMOD face detector on onnxruntime.

    ``session_factory`` returns an onnxruntime session of the converted
    ``dlib_mmod.onnx``; ``mean_rgb`` is the network's per-channel mean (0..255).
    """

    def __init__(self, settings: DetectorSettings, session_factory: SessionFactory,
                 mean_rgb: tuple[float, float, float], min_score: float = 0.0) -> None:
        if settings.model == "hog":
            _no_hog()
        if settings.model not in ("mmod", "cnn"):
            raise ModelLoadError(f"OnnxDetector runs dlib's MMOD CNN ('mmod'/'cnn'), not {settings.model!r}")
        self.settings = settings
        self.mean_rgb = mean_rgb
        self.min_score = min_score
        self._session = _Lazy(session_factory)

    def with_settings(self, settings: DetectorSettings) -> OnnxDetector:
        """A detector with other settings that shares this one's network session."""
        other = OnnxDetector(settings, self._session.get, self.mean_rgb, self.min_score)
        return other

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in ``rgb`` (H, W, 3) uint8, boxes in its pixels, highest score first."""
        return self.detect_batch([rgb])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """:meth:`detect` for several images; same-sized ones share one network run."""
        s = self.settings
        prepared = []
        for rgb in images:
            _check_rgb(rgb)
            small, scale = downscale_for_detection(rgb, s.max_width_px)
            for _ in range(s.upsample):
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
            boxes = [rect_down2(b, s.upsample) for b in boxes]
            results.append(self._to_detections(rgb, boxes, scores, scale))
        return results

    def _to_detections(self, rgb: np.ndarray, boxes: list[tuple[int, int, int, int]],
                       scores: list[float], scale: float) -> Detections:
        """As the dlib engine does: (left, top, right, bottom) * scale, clipped, by score."""
        det = Detections.from_ltrb(boxes, scores, scale, rgb.shape[1], rgb.shape[0])
        return drop_small(det, self.settings.min_face_px)


class OnnxEmbedder:
    """dlib's face ResNet descriptor (128-d, Euclidean threshold 0.6) without dlib."""

    def __init__(self, session_factory: SessionFactory, shape_predictor: ShapePredictor | Callable[[], ShapePredictor],
                 model_id: str, default_max_distance: float) -> None:
        self.model_id = model_id
        self.default_max_distance = default_max_distance
        self._session = _Lazy(session_factory)
        self._sp = shape_predictor

    @property
    def shape_predictor(self) -> ShapePredictor:
        if not isinstance(self._sp, ShapePredictor):
            self._sp = self._sp()
        return self._sp

    def landmarks(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """5-point landmarks (n, 5, 2) int64 pixels for each box, as dlib's predictor gives them."""
        _check_rgb(rgb)
        return self.shape_predictor.predict(rgb, _dlib_rects(detections))

    def chips(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """The (n, 150, 150, 3) uint8 RGB chips the ResNet sees."""
        return face_chips(rgb, self.landmarks(rgb, detections))

    def embed(self, rgb: np.ndarray, detections: Detections) -> Embeddings:
        """One descriptor per detection, (n, 128) float64, computed on the full-resolution ``rgb``."""
        if len(detections) == 0:
            return Embeddings(np.zeros((0, 128)), self.model_id)
        return Embeddings(self.embed_chips(self.chips(rgb, detections)), self.model_id)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors (n, 128) float64 for RGB uint8 chips (n, 150, 150, 3)."""
        chips = np.ascontiguousarray(chips, np.uint8)
        if chips.ndim != 4 or chips.shape[1:] != (150, 150, 3):
            raise ValueError(f"chips: expected (n, 150, 150, 3) uint8, got {chips.shape}")
        session = self._session.get()
        out = [session.run(["descriptors"], {"chips": chips[i:i + EMBED_BATCH]})[0]
               for i in range(0, len(chips), EMBED_BATCH)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, 128))


#: Extra detectors: ``DetectorSettings.model`` -> manifest entry of a fetched model.
EXTRA_DETECTORS: dict[str, str] = {"yunet": "yunet_2023mar"}

#: How a fetched detector runs: manifest ``runtime`` -> "module:class", built as
#: ``cls(settings, path, min_score=..., nms_iou=..., top_k=...)``.
DETECTOR_RUNTIMES: dict[str, str] = {"cv2.FaceDetectorYN": "camera.engines.yunet:YuNetDetector"}


def create(settings: DetectorSettings, cache_dir: Path | None = None, embedder: str | None = None) -> Engine:
    """The registry factory: converts the dlib models into ``cache_dir`` if needed.

    ``embedder`` names a user embedder in ``cache_dir``'s ``models.toml``
    (:mod:`camera.engines.user_models`); ``None`` is dlib's ResNet.
    """
    from models.convert import ensure_converted

    user_detector = None
    if settings.model == "hog":
        _no_hog()  # fail before converting anything
    elif settings.model not in EXTRA_DETECTORS and settings.model not in ("mmod", "cnn"):
        user_detector = _user_detector_spec(settings.model, cache_dir)
    try:
        resnet = ensure_converted(RESNET_ENTRY, cache_dir) if embedder is None else None
        sp5 = ensure_converted(SP5_ENTRY, cache_dir)
        if settings.model in EXTRA_DETECTORS:
            detector = extra_detector(settings, cache_dir)
        elif user_detector is not None:
            detector = _runtime_class(user_detector.runtime)(
                settings, user_detector.verified_path(), min_score=user_detector.min_score,
                nms_iou=user_detector.nms_iou, top_k=user_detector.top_k)
        else:
            mmod = ensure_converted(MMOD_ENTRY, cache_dir)
            m = entry(MMOD_ENTRY)
            mean_rgb = tuple(float(np.float32(v)) for v in m["mean_rgb"])
            detector = OnnxDetector(settings, lambda: make_session(mmod.path), mean_rgb,
                                    float(m["default_min_score"]))
    except OSError as exc:
        raise ModelLoadError(f"cannot write converted models to {cache_dir}: {exc}") from exc
    if embedder is not None:
        from camera.engines.user_models import EmbedderSpec, ManifestEmbedder, user_entry

        spec = EmbedderSpec.from_entry(embedder, user_entry(embedder, cache_dir, "embedder"))
        user = ManifestEmbedder(spec, make_session(spec.verified_path()), lambda: ShapePredictor.from_npz(sp5.path))
        return Engine("onnx", detector, user)
    e = entry(RESNET_ENTRY)
    assert resnet is not None
    dlib_resnet = OnnxEmbedder(lambda: make_session(resnet.path), lambda: ShapePredictor.from_npz(sp5.path),
                               e["model_id"], float(e["default_max_distance"]))
    return Engine("onnx", detector, dlib_resnet)


def extra_detector(settings: DetectorSettings, cache_dir: Path | None):
    """A detector from a fetched, sha256-checked model named by :data:`EXTRA_DETECTORS`."""
    from models.convert import default_cache_dir
    from models.fetch import verified_fetched_path

    name = EXTRA_DETECTORS[settings.model]
    e = entry(name)
    runtime = e.get("runtime")
    if runtime not in DETECTOR_RUNTIMES:
        raise ModelLoadError(f"model {name!r}: runtime {runtime!r} is not one of {', '.join(DETECTOR_RUNTIMES)}")
    path = verified_fetched_path(name, cache_dir if cache_dir is not None else default_cache_dir())
    return _runtime_class(runtime)(settings, path, min_score=float(e.get("default_min_score", 0.5)),
                                   nms_iou=float(e.get("nms_iou", 0.3)), top_k=int(e.get("top_k", 5000)))


def _runtime_class(runtime: str):
    """The detector class that runs models of ``runtime`` (a key of :data:`DETECTOR_RUNTIMES`)."""
    import importlib

    module, cls = DETECTOR_RUNTIMES[runtime].split(":")
    return getattr(importlib.import_module(module), cls)


def _user_detector_spec(name: str, cache_dir: Path | None):
    """Detector entry ``name`` of ``cache_dir``'s models.toml, checked; the error lists the built-ins."""
    from camera.engines.user_models import DetectorSpec, user_entry

    try:
        e = user_entry(name, cache_dir, "detector")
    except ModelLoadError as exc:
        raise ModelLoadError(f"detector {name!r} is not built in (the onnx engine has mmod/cnn, "
                             f"{', '.join(EXTRA_DETECTORS)}) and not a user detector: {exc}") from None
    return DetectorSpec.from_entry(name, e, tuple(DETECTOR_RUNTIMES))


def _no_hog() -> None:
    raise ModelLoadError(
        "the onnx engine detects with 'mmod' (alias 'cnn'), not 'hog'; dlib's HOG detector "
        "needs dlib - set the detector model to 'mmod', or use the 'dlib' engine")


def _dlib_rects(detections: Detections) -> np.ndarray:
    """Boxes as dlib rectangles (left, top, right, bottom), rounded as the dlib engine rounds them."""
    trbl = detections.to_trbl()
    return np.array([(x0, t, r, b) for t, r, b, x0 in trbl], np.int64).reshape(-1, 4)


def _check_rgb(rgb: np.ndarray) -> None:
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        got = getattr(rgb, "shape", type(rgb).__name__), getattr(rgb, "dtype", "")
        raise ValueError(f"image: expected RGB uint8 (H, W, 3), got {got}")
