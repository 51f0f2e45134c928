"""An engine: a detector and an embedder that run together, chosen by ``[engine]``.

``[engine] name`` picks a family (:data:`ENGINES`): ``onnx`` (dlib's models on
onnxruntime, no dlib) or ``dlib`` (face_recognition itself); each names its
default detector and embedder, and ``detector`` / ``embedder`` replace them
with any entry of :data:`camera.detect.DETECTORS` /
:data:`camera.embed.EMBEDDERS` or of the user's ``models.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from camera.detect import DETECTORS, FaceDetector, create_detector, resolve
from camera.detect.config import DetectConfig
from camera.embed import INT8_EMBEDDERS, FaceEmbedder, check_precision, create_embedder
from camera.errors import ConfigError
from models.convert import default_cache_dir


@dataclass(frozen=True)
class EngineSpec:
    """A family's default detector and embedder (registry names)."""

    detector: str
    embedder: str


ENGINES: dict[str, EngineSpec] = {
    "onnx": EngineSpec(detector="mmod", embedder="dlib_resnet"),
    "dlib": EngineSpec(detector="hog", embedder="dlib"),
}


class EngineConfig(DetectConfig):
    """``[engine]``: which detector and embedder, and how hard the detector looks."""

    name: str = Field("onnx", description="engine: 'onnx' (dlib's models on onnxruntime, no dlib needed) or "
                      "'dlib' (face_recognition; needs facecam[dlib])")
    embedder: str | None = Field(
        None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
        description="embedder: dlib_resnet (onnxruntime), dlib (face_recognition), or the name of an embedder "
                    "[table] in models.toml in the model directory; default: the engine's own")
    threads: int | None = Field(None, ge=1, le=256, description="threads each onnxruntime model uses (mmod, "
                                "dlib_resnet, models.toml embedders; YuNet and dlib run their own); default: one "
                                "per core")
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
        """The detector's registry name (``detector``, else the engine's; aliases followed)."""
        return resolve(self.detector or ENGINES[self.name].detector)

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
        """The detection stage's settings, with the detector and upsampling resolved."""
        return DetectConfig(detector=self.detector_name, upsample=self.upsample_times,
                            detect_max_width=self.detect_max_width, min_face_px=self.min_face_px)


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
    cfg = EngineConfig(name=name, embedder=embedder, **d.model_dump())
    check_precision(cfg.embedder_name, precision)
    folder = Path(model_dir) if model_dir is not None else default_cache_dir()
    return Engine(name, create_detector(cfg.detector_name, cfg.detect_config(), folder, threads),
                  create_embedder(cfg.embedder_name, folder, threads, precision))
