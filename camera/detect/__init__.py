"""Face detection: a registry of detectors, one module each.

Adding a detector is one module with a ``create(cfg, upsample, model_dir,
threads)`` factory (``threads``: per onnxruntime session, ``None`` for one
per core) and one line in :data:`DETECTORS`. Names not in the registry are
looked up as detector entries of the user's ``models.toml``
(:mod:`camera.detect.user`), run by one of :data:`RUNTIMES`; an unknown name
raises, listing the valid ones. Modules are imported only when chosen, so
choosing ``mmod`` never imports dlib (YuNet's module is light: OpenCV). A detector whose model is fetched
rather than converted from a package (YuNet) is :func:`available` only once
its file is in the model directory.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from camera.detect import user
from camera.detect.base import FaceDetector
from camera.detect.config import DetectConfig
from models.fetch import fetched_path

__all__ = ["ALIASES", "DETECTORS", "RUNTIMES", "DetectConfig", "DetectorEntry", "FaceDetector", "available",
           "create_detector", "resolve", "with_own_width"]

#: the manifest entry behind the built-in ``yunet`` detector (camera/detect/yunet.py)
YUNET_ENTRY = "yunet_2026may"


@dataclass(frozen=True)
class DetectorEntry:
    """A built-in detector: its factory (``"module:function"``), the upsampling it runs at by default, and
    the least it runs at on enrolment photos (HOG and MMOD find faces from ~80 and ~40 px at upsample 0;
    YuNet finds close-ups best as they are: doubling a portrait costs it the face), and the manifest entry
    it needs fetched (``None``: its model comes from a package), and the width it detects at unless the config
    says otherwise (YuNet: 480 px, where it finds the faces it finds at 640 in two thirds of the time,
    docs/engines.md "Detectors compared"; the others 640)."""

    factory: str
    default_upsample: int
    enrol_upsample: int
    summary: str
    fetched: str | None = None
    #: ``detect_max_width`` when the config sets none (pixels)
    max_width: int = 640


DETECTORS: dict[str, DetectorEntry] = {
    "mmod": DetectorEntry("camera.detect.mmod:create", 0, 1, "dlib's MMOD CNN on onnxruntime; turned faces too"),
    "yunet": DetectorEntry("camera.detect.yunet:create", 0, 0, "OpenCV Zoo's YuNet (fetched); five landmarks",
                           fetched=YUNET_ENTRY, max_width=480),
    "hog": DetectorEntry("camera.detect.dlib:create_hog", 1, 1, "dlib's HOG; frontal faces (facecam[dlib])"),
    "dlib_cnn": DetectorEntry("camera.detect.dlib:create_cnn", 0, 1, "dlib's own MMOD CNN (facecam[dlib])"),
}

#: other names for built-in detectors
ALIASES: dict[str, str] = {"cnn": "mmod"}

#: how user detectors run: ``runtime`` of a models.toml entry -> "module:Class",
#: built as ``Class(cfg, upsample, path, min_score=..., nms_iou=..., top_k=...)``.
RUNTIMES: dict[str, str] = {"cv2.FaceDetectorYN": "camera.detect.yunet:YuNetDetector"}


def resolve(name: str) -> str:
    """The registry name of ``name`` (aliases followed); user detector names come back unchanged."""
    return ALIASES.get(name, name)


def available(name: str, model_dir: Path) -> bool:
    """Whether built-in detector ``name`` can run from ``model_dir``: its fetched model is there (its sha256
    is checked when it loads), or it needs none. User detectors count as available."""
    e = DETECTORS.get(resolve(name))
    return e is None or e.fetched is None or fetched_path(e.fetched, model_dir).is_file()


def with_own_width(name: str, cfg: DetectConfig) -> DetectConfig:
    """``cfg`` with ``detect_max_width`` set: its own if the config set one, else detector ``name``'s
    (:attr:`DetectorEntry.max_width`; user detectors: the config's default)."""
    if "detect_max_width" in cfg.model_fields_set:
        return cfg
    e = DETECTORS.get(resolve(name))
    return cfg.model_copy(update={"detect_max_width": e.max_width if e is not None else cfg.detect_max_width})


def create_detector(name: str, cfg: DetectConfig, model_dir: Path, threads: int | None = None) -> FaceDetector:
    """The detector called ``name``, with ``cfg``'s size settings; models are kept in ``model_dir``;
    ``threads`` per onnxruntime session (``None``: one per core; detectors not on onnxruntime ignore it).

    ``cfg.upsample`` ``None`` means the detector's own default (0 for user detectors); a ``detect_max_width``
    the config does not set is the detector's own (:func:`with_own_width`).
    Raises :class:`~camera.errors.ModelLoadError` for an unknown or broken detector.
    """
    name = resolve(name)
    cfg = with_own_width(name, cfg)
    e = DETECTORS.get(name)
    if e is None:
        upsample = cfg.upsample if cfg.upsample is not None else 0
        return user.create(name, cfg, upsample, model_dir, RUNTIMES, tuple(DETECTORS))
    upsample = cfg.upsample if cfg.upsample is not None else e.default_upsample
    module, factory = e.factory.split(":")
    detector: FaceDetector = getattr(importlib.import_module(module), factory)(cfg, upsample, model_dir, threads)
    return detector
