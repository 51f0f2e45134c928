"""Helpers shared by the evaluation commands: engine specs, photo problems, distances."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camera.detect.config import DetectConfig
from camera.engine import ENGINES
from camera.errors import ConfigError
from camera.evaluation.datasets import Problem
from camera.evaluation.extract import FaceResult, split_engine

__all__ = ["RunOptions", "nearest_distances", "parse_detectors", "parse_engines", "photo_problems"]

#: How each photo status enters the metrics, for the problems list in reports.
COUNTED_AS = {
    "missing": "no embedding",
    "unreadable": "no embedding",
    "no_face": "no embedding",
    "upsampled": "embedded (face found only with one more upsampling step)",
    "center_box": "embedded from the fixed central box (no face detected)",
}


@dataclass(frozen=True)
class RunOptions:
    """What every embedding command shares: engines by registry name, detector
    settings, cache folder (``None``: no cache), worker processes (``None``:
    CPU count) and whether to show a progress bar (``None``: on a terminal).

    ``detectors`` overrides ``settings.detector`` per engine name (e.g. dlib's
    HOG for the ``dlib`` engine, MMOD for ``onnx``).
    """

    engines: tuple[str, ...] = ("dlib",)
    settings: DetectConfig = DetectConfig(detector="hog", upsample=1)
    cache_dir: Path | None = None
    workers: int | None = None
    progress: bool | None = None
    detectors: dict[str, str] = field(default_factory=dict)

    def settings_for(self, engine: str) -> DetectConfig:
        """The detector settings ``engine`` runs with (``ENGINE:EMBEDDER`` and ``ENGINE+int8`` take
        ``ENGINE``'s detector unless named themselves)."""
        model = self.detectors.get(engine, self.detectors.get(split_engine(engine)[0]))
        return self.settings if model is None else self.settings.model_copy(update={"detector": model})

    def describe_settings(self) -> str:
        """Each engine's settings, for reports."""
        return "; ".join(f"{e}: {self.settings_for(e)!r}" for e in self.engines)


def parse_detectors(text: str) -> tuple[str, dict[str, str]]:
    """``"hog,onnx=mmod"`` → ``("hog", {"onnx": "mmod"})``: a default detector and per-engine ones."""
    default, per = "hog", {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if "=" in item:
            engine, model = (x.strip() for x in item.split("=", 1))
            per[engine] = model
        else:
            default = item
    return default, per


def parse_engines(text: str) -> tuple[str, ...]:
    """``"dlib,onnx"`` → ``("dlib", "onnx")``; an unknown name raises :class:`ConfigError`.

    ``ENGINE:EMBEDDER`` (e.g. ``onnx:my_embedder``) runs a user embedder from
    ``models.toml`` in the model directory (:func:`camera.evaluation.extract.get_engine`);
    a ``+int8`` suffix (``onnx+int8``) runs the embedder at ``[engine] precision = "int8"``.
    """
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ConfigError("--engine: expected one or more engine names, got none")
    unknown = [n for n in names if split_engine(n)[0] not in ENGINES]
    if unknown:
        raise ConfigError(f"unknown engine {', '.join(map(repr, unknown))}; "
                          f"choose from: {', '.join(sorted(ENGINES))}")
    return names


def photo_problems(results: dict[str, FaceResult],
                   no_embedding_counted_as: str | dict[str, str]) -> list[Problem]:
    """One :class:`Problem` per photo whose status is not a plain detection.

    ``no_embedding_counted_as`` says how the calling command scores a photo
    that has no vector (e.g. "pair scored as 'different'"), or maps each
    photo path to that.
    """
    out = []
    for path, r in sorted(results.items()):
        if r.status in ("detected", "whole_image"):
            continue
        how = COUNTED_AS.get(r.status, r.status)
        if r.vector is None:
            rule = no_embedding_counted_as if isinstance(no_embedding_counted_as, str) \
                else no_embedding_counted_as.get(path, "")
            how = f"{how}: {rule}" if rule else how
        out.append(Problem(path, r.status, r.detail or r.status, how))
    return out


def nearest_distances(probes: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Euclidean distances (n, m) between probe rows (n, d) and gallery rows (m, d)."""
    p, g = np.asarray(probes, float), np.asarray(gallery, float)
    if p.ndim != 2 or g.ndim != 2 or p.shape[0] == 0 or g.shape[0] == 0:
        return np.full((p.shape[0] if p.ndim == 2 else 0, g.shape[0] if g.ndim == 2 else 0), np.inf)
    out = np.empty((p.shape[0], g.shape[0]))
    for start in range(0, p.shape[0], 256):  # exact differences, in blocks to bound memory
        block = p[start:start + 256]
        out[start:start + 256] = np.linalg.norm(block[:, None, :] - g[None, :, :], axis=2)
    return out
