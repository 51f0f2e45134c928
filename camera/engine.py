"""An engine: a detector and an embedder that run together, chosen by ``[engine]``.

``[engine] name`` picks a family (:data:`ENGINES`): ``onnx`` (dlib's models on
onnxruntime, no dlib) or ``dlib`` (face_recognition itself); each names its
default detectors, best first, and its embedder; ``detector`` / ``embedder``
replace them with any entry of :data:`camera.detect.DETECTORS` /
:data:`camera.embed.EMBEDDERS` or of the user's ``models.toml``. The onnx
engine's default is YuNet where its fetched model is in the model directory
(``scripts/setup.sh`` fetches it), else MMOD, whose model every install
converts from a package: YuNet finds faces from ~10 px at a fraction of MMOD's
cost, MMOD at upsample 0 misses faces under ~80 px (docs/engines.md,
"Detectors compared").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from camera.detect import DETECTORS, FaceDetector, available, create_detector, resolve, with_own_width
from camera.detect.config import DetectConfig
from camera.embed import INT8_EMBEDDERS, FaceEmbedder, check_precision, create_embedder
from camera.errors import ConfigError
from models.convert import default_cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSpec:
    """A family's default detectors (registry names, best first: the first :func:`~camera.detect.available`
    one runs; the last must always be) and its embedder."""

    detectors: tuple[str, ...]
    embedder: str


ENGINES: dict[str, EngineSpec] = {
    "onnx": EngineSpec(detectors=("yunet", "mmod"), embedder="dlib_resnet"),
    "dlib": EngineSpec(detectors=("hog",), embedder="dlib"),
}

#: (engine, model folder) pairs whose fallback detector was already logged
_told: set[tuple[str, Path]] = set()


class EngineConfig(DetectConfig):
    """``[engine]``: which detector and embedder, and how hard the detector looks."""

    name: str = Field("onnx", description="engine: 'onnx' (dlib's models on onnxruntime, no dlib needed) or "
                      "'dlib' (face_recognition; needs facecam[dlib])")
    embedder: str | None = Field(
        None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
        description="embedder: dlib_resnet (onnxruntime), dlib (face_recognition), or the name of an embedder "
                    "[table] in models.toml in the model directory; default: the engine's own")
    threads: int | None = Field(None, ge=1, le=256, description="threads each onnxruntime model uses (yunet, "
                                "mmod, dlib_resnet, models.toml models; dlib runs its own); default: one per core, "
                                "shared out among the inference threads when several cameras run")
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="the embedder's arithmetic: 'fp32', or 'int8' (dlib_resnet only: a quantized model with "
                            "its own model id, so the gallery is re-embedded; see docs/engines.md)")

    @field_validator("name")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if v not in ENGINES:
            raise ValueError(f"unknown engine {v!r}; choose one of: {', '.join(sorted(ENGINES))}")
        return v

    @model_validator(mode="after")
    def _precision_fits_embedder(self) -> EngineConfig:
        if self.precision == "int8" and self.embedder_name not in INT8_EMBEDDERS:
            raise ValueError(f"precision 'int8' works with the embedder {', '.join(sorted(INT8_EMBEDDERS))}, "
                             f"not {self.embedder_name!r}")
        return self

    @property
    def detector_name(self) -> str:
        """The detector's registry name (aliases followed): ``detector``, else the engine's last default (the
        one every install has); :meth:`resolved` first picks the best default a model folder allows."""
        return resolve(self.detector or ENGINES[self.name].detectors[-1])

    def resolved(self, folder: Path) -> EngineConfig:
        """This config with ``detector`` set: the user's, else the engine's first default whose model is in
        ``folder`` (logged once when a better one is missing)."""
        if self.detector is not None:
            return self
        defaults = ENGINES[self.name].detectors
        name = next(d for d in defaults if d == defaults[-1] or available(d, folder))
        if name != defaults[0] and (self.name, folder) not in _told:
            _told.add((self.name, folder))
            log.info("detector %s: %s's model is not in %s (scripts/fetch_models.py fetches it)", name,
                     defaults[0], folder)
        return self.model_copy(update={"detector": name})

    @property
    def embedder_name(self) -> str:
        """``embedder``, else the engine's."""
        return self.embedder or ENGINES[self.name].embedder

    @property
    def upsample_times(self) -> int:
        """``upsample``, else the detector's own default (0 for user detectors)."""
        if self.upsample is not None:
            return self.upsample
        e = DETECTORS.get(self.detector_name)
        return e.default_upsample if e is not None else 0

    def detect_config(self) -> DetectConfig:
        """The detection stage's settings, with the detector, upsampling and width resolved."""
        own = DetectConfig(detector=self.detector_name, upsample=self.upsample_times, min_face_px=self.min_face_px,
                           **({"detect_max_width": self.detect_max_width}
                              if "detect_max_width" in self.model_fields_set else {}))
        return with_own_width(self.detector_name, own)


@dataclass(frozen=True)
class Engine:
    """A detector and an embedder that belong together, under the engine's name."""

    name: str
    detector: FaceDetector
    embedder: FaceEmbedder


def create_engine(name: str = "onnx", detect: DetectConfig | None = None, model_dir: Path | None = None,
                  embedder: str | None = None, threads: int | None = None, precision: str = "fp32") -> Engine:
    """Build engine ``name``: ``detect`` says which detector and how (``None``: the engine's defaults),
    ``embedder`` replaces the engine's own, ``model_dir`` keeps converted and user models
    (``None``: the user cache directory), ``threads`` per onnxruntime model (``None``: one per core),
    ``precision`` the embedder's (``"int8"``: see :data:`camera.embed.INT8_EMBEDDERS`).
    Raises :class:`ConfigError` for an unknown engine or an embedder without that precision."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of: {', '.join(sorted(ENGINES))}")
    d = detect or DetectConfig()
    folder = Path(model_dir) if model_dir is not None else default_cache_dir()
    cfg = EngineConfig(name=name, embedder=embedder, **d.model_dump()).resolved(folder)
    check_precision(cfg.embedder_name, precision)
    return Engine(name, create_detector(cfg.detector_name, cfg.detect_config(), folder, threads),
                  create_embedder(cfg.embedder_name, folder, threads, precision))
