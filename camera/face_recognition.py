"""A drop-in for ``face_recognition``'s public API, built on the ``onnx`` engine (no dlib).

Same names, arguments and conventions as face_recognition 1.3.0: images are
RGB uint8 numpy arrays (H, W, 3) (2-D grey arrays are accepted and treated as
R = G = B), face locations are ``(top, right, bottom, left)`` integer tuples
trimmed to the image, encodings are 128-d float64 vectors compared by
Euclidean distance (0.6 is the usual tolerance). For the ``cnn`` detector and
the 5-point ("small") landmarks, results equal face_recognition's: the same
boxes, the same landmark points, encodings within 1e-4 of dlib's.

Differences from face_recognition (each raises rather than guessing):

* No HOG detector. ``face_locations(..., model=...)`` defaults to ``"cnn"``
  (dlib's MMOD CNN, here on onnxruntime, roughly 30x faster than dlib on a
  CPU); ``model="hog"`` raises :class:`~camera.errors.ModelLoadError`.
  ``face_encodings`` and ``face_landmarks`` without locations detect with the
  CNN (upsample 1) where face_recognition uses HOG, so on the same photo
  they may find other faces (usually more) than face_recognition does.
* Only the 5-point landmark model. ``face_landmarks`` defaults to
  ``model="small"`` (face_recognition: ``"large"``, 68 points);
  ``model="large"`` raises ``ValueError`` in both ``face_landmarks`` and
  ``face_encodings``.
* ``num_jitters`` must be 1 (or less): dlib's random jitter cannot be
  reproduced without dlib, so ``num_jitters > 1`` raises ``ValueError``.
* ``number_of_times_to_upsample`` is limited to 0..3 (each step costs ~4x).
* ``load_image_file`` decodes through :func:`camera.imageio.decode_image`: it
  applies the EXIF orientation (face_recognition does not), refuses images
  over 50 megapixels and raises :class:`~camera.errors.InvalidImage` for
  unreadable files. ``mode="L"`` returns a 2-D grey array, as before.
* ``batch_face_locations`` runs on the CPU; images of one size share a
  network run. Images may differ in size (face_recognition requires equal
  sizes, and trims every box to the first image's size; here each box is
  trimmed to its own image).

Converted models live in ``models.convert.default_cache_dir()``, or where
:func:`set_model_cache` (an addition) says; the first call converts them (a
few seconds).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from camera.detect.config import DetectConfig
from camera.detect.mmod import MmodDetector
from camera.engine import Engine, create_engine
from camera.errors import ModelLoadError
from camera.imageio import decode_image, read_bytes
from camera.types import Detections

__all__ = ["batch_face_locations", "compare_faces", "face_distance", "face_encodings", "face_landmarks",
           "face_locations", "load_image_file", "set_model_cache"]

log = logging.getLogger(__name__)

Css = tuple[int, int, int, int]


def load_image_file(file: str | Path | BinaryIO, mode: str = "RGB") -> np.ndarray:
    """Load an image file (or binary file object) as RGB uint8 (H, W, 3), or grey (H, W) for ``mode="L"``."""
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode: expected 'RGB' or 'L', got {mode!r}")
    if hasattr(file, "read"):
        data, name = file.read(), getattr(file, "name", "<file>")
    else:
        data, name = read_bytes(Path(file)), str(file)
    rgb = decode_image(data, str(name))
    if mode == "L":  # PIL's ITU-R 601-2 luma, as Image.convert("L") computes it

        return np.asarray(Image.fromarray(rgb).convert("L"))
    return rgb


def face_locations(img: np.ndarray, number_of_times_to_upsample: int = 1, model: str = "cnn") -> list[Css]:
    """Boxes of the faces in ``img`` as ``(top, right, bottom, left)``, most confident first."""
    rgb = _as_rgb(img)
    return _to_css(_detector(number_of_times_to_upsample, model).detect(rgb), rgb.shape)


def batch_face_locations(images: Sequence[np.ndarray], number_of_times_to_upsample: int = 1,
                         batch_size: int = 128) -> list[list[Css]]:
    """:func:`face_locations` (CNN) for many images; ``batch_size`` images per network call at most."""
    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    det = _detector(number_of_times_to_upsample, "cnn")
    out: list[list[Css]] = []
    for i in range(0, len(images), batch_size):
        chunk = [_as_rgb(im) for im in images[i:i + batch_size]]
        out += [_to_css(d, im.shape) for d, im in zip(det.detect_batch(chunk), chunk, strict=True)]
    return out


def face_landmarks(face_image: np.ndarray, face_locations: Iterable[Css] | None = None,
                   model: str = "small") -> list[dict[str, list[tuple[int, int]]]]:
    """5-point landmarks per face: ``{"nose_tip": [..1], "left_eye": [..2], "right_eye": [..2]}``.

    ``left_eye`` is the eye on the image-left side (parts 2, 3: outer, inner),
    ``right_eye`` the image-right one (parts 0, 1), as face_recognition names them.
    """
    _require_small(model)
    rgb = _as_rgb(face_image)
    pts = _engine().embedder.landmarks(rgb, _detections(rgb, face_locations))
    out = []
    for p in pts.tolist():
        t = [(int(x), int(y)) for x, y in p]
        out.append({"nose_tip": [t[4]], "left_eye": t[2:4], "right_eye": t[0:2]})
    return out


def face_encodings(face_image: np.ndarray, known_face_locations: Iterable[Css] | None = None,
                   num_jitters: int = 1, model: str = "small") -> list[np.ndarray]:
    """A 128-d float64 encoding for each face (found with the CNN unless locations are given)."""
    _require_small(model)
    if num_jitters > 1:
        raise ValueError("num_jitters > 1 is not supported without dlib (its random jitter cannot be "
                         "reproduced); use num_jitters=1, or enrol several photos instead")
    rgb = _as_rgb(face_image)
    emb = _engine().embedder.embed(rgb, _detections(rgb, known_face_locations))
    return [v.copy() for v in emb.vectors]


def compare_faces(known_face_encodings: Sequence[np.ndarray] | np.ndarray, face_encoding_to_check: np.ndarray,
                  tolerance: float = 0.6) -> list[bool]:
    """For each known encoding, whether it is within ``tolerance`` (Euclidean) of the one to check."""
    return list(face_distance(known_face_encodings, face_encoding_to_check) <= tolerance)


def face_distance(face_encodings: Sequence[np.ndarray] | np.ndarray, face_to_compare: np.ndarray) -> np.ndarray:
    """Euclidean distance from each encoding to ``face_to_compare``, (n,) float64 (lower is more alike)."""
    if len(face_encodings) == 0:
        return np.empty(0)
    return np.linalg.norm(np.asarray(face_encodings) - np.asarray(face_to_compare), axis=1)


# --------------------------------------------------------------------------- helpers


_model_cache: Path | None = None


def set_model_cache(path: Path | str | None) -> None:
    """Keep converted models in ``path`` (``None``: the default cache). Not in face_recognition."""
    global _model_cache
    _model_cache = None if path is None else Path(path)
    _engine.cache_clear()
    _detector_for.cache_clear()


@cache
def _engine() -> Engine:
    """The onnx engine, its models converted into the model cache on first use."""
    return create_engine("onnx", _settings(0), _model_cache)


def _settings(upsample: int) -> DetectConfig:
    # full resolution, no size filter: face_recognition detects on the image as given
    return DetectConfig(detector="mmod", upsample=upsample, detect_max_width=None, min_face_px=0)


@cache
def _detector_for(upsample: int) -> MmodDetector:
    detector = _engine().detector
    if not isinstance(detector, MmodDetector):
        raise ModelLoadError(f"expected the mmod detector, got {type(detector).__name__}")
    return detector.with_settings(_settings(upsample), upsample)


def _detector(upsample: int, model: str):
    if model == "hog":
        raise ModelLoadError("model='hog' needs dlib; this drop-in has only the CNN detector "
                             "(model='cnn', the default here)")
    if model not in ("cnn", "mmod"):
        raise ValueError(f"model: expected 'cnn', got {model!r}")
    if not 0 <= int(upsample) <= 3:
        raise ValueError(f"number_of_times_to_upsample: expected 0..3, got {upsample}")
    return _detector_for(int(upsample))


def _require_small(model: str) -> None:
    if model == "large":
        raise ValueError("the 68-point ('large') landmark model is not supported without dlib; "
                         "use model='small' (5 points)")
    if model != "small":
        raise ValueError(f"model: expected 'small', got {model!r}")


def _as_rgb(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise ValueError(f"image: expected uint8 pixels, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image: expected (H, W, 3) RGB or (H, W) grey, got shape {a.shape}")
    return np.ascontiguousarray(a)


def _to_css(det: Detections, shape: tuple[int, ...]) -> list[Css]:
    h, w = shape[:2]
    return [(max(t, 0), min(r, w), min(b, h), max(x0, 0)) for t, r, b, x0 in det.to_trbl()]


def _detections(rgb: np.ndarray, locations: Iterable[Css] | None) -> Detections:
    if locations is None:
        return _detector(1, "cnn").detect(rgb)
    boxes = [tuple(int(v) for v in css) for css in locations]
    if any(len(b) != 4 for b in boxes):
        raise ValueError("face locations: expected (top, right, bottom, left) tuples")
    return Detections.from_trbl(boxes)  # type: ignore[arg-type]




