"""Detectors the user brings: a ``kind = "detector"`` entry of ``models.toml`` in the model directory.

The entry's ``runtime`` says which class runs it (:data:`camera.detect.RUNTIMES`);
its file is refused unless it hashes to the entry's sha256 (:mod:`models.user`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from camera.detect.base import FaceDetector
from camera.detect.config import DetectConfig
from camera.errors import ModelLoadError
from models.user import DetectorSpec, user_entry


def create(name: str, cfg: DetectConfig, upsample: int, model_dir: Path, runtimes: dict[str, str],
           builtin: tuple[str, ...]) -> FaceDetector:
    """The detector of entry ``name``, run by the class ``runtimes[entry.runtime]`` names ("module:Class")."""
    try:
        e = user_entry(name, model_dir, "detector")
    except ModelLoadError as exc:
        raise ModelLoadError(f"detector {name!r} is not built in ({', '.join(builtin)}) and not a user "
                             f"detector: {exc}") from None
    spec = DetectorSpec.from_entry(name, e, tuple(runtimes))
    module, cls = runtimes[spec.runtime].split(":")
    detector: FaceDetector = getattr(importlib.import_module(module), cls)(
        cfg, upsample, spec.verified_path(), min_score=spec.min_score, nms_iou=spec.nms_iou, top_k=spec.top_k)
    return detector
