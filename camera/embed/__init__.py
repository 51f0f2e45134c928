"""Face embedding: a registry of embedders, one module each.

Adding an embedder is one module with a ``create(model_dir, threads)`` factory
(``threads``: per onnxruntime session, ``None`` for one per core) and one
line in :data:`EMBEDDERS`. Names not in the registry are embedder entries of
the user's ``models.toml`` (:mod:`camera.embed.manifest`). Modules are
imported only when chosen. ``precision = "int8"`` picks the factory in
:data:`INT8_EMBEDDERS` instead (a separate model with its own ``model_id``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from camera.embed.base import ChipEmbedder, FaceEmbedder
from camera.errors import ConfigError
from models import entry
from models.user import EmbedderSpec, user_entry

__all__ = ["EMBEDDERS", "INT8_EMBEDDERS", "PRECISIONS", "ChipEmbedder", "FaceEmbedder", "check_precision",
           "create_embedder", "model_default_max_distance"]

#: built-in embedders: name -> "module:function", called as ``function(model_dir, threads)``
EMBEDDERS: dict[str, str] = {
    "dlib_resnet": "camera.embed.resnet:create",  # dlib's ResNet on onnxruntime (no dlib needed)
    "dlib": "camera.embed.dlib:create",  # dlib's ResNet through face_recognition (facecam[dlib])
}
#: built-in embedders that have an int8 model: name -> "module:function", called as above
INT8_EMBEDDERS: dict[str, str] = {
    "dlib_resnet": "camera.embed.resnet:create_int8",  # models/quantize.py's int8 graph of dlib's ResNet
}
#: ``[engine] precision`` values
PRECISIONS = ("fp32", "int8")
_USER = "camera.embed.manifest:create"
#: the manifest entry of each built-in embedder's model (for its facts, without loading it)
_MODEL_ENTRY = {"dlib_resnet": "dlib_resnet_v1", "dlib": "dlib_resnet_v1"}
_INT8_MODEL_ENTRY = {"dlib_resnet": "dlib_resnet_v1_int8"}


def create_embedder(name: str, model_dir: Path, threads: int | None = None,
                    precision: str = "fp32") -> FaceEmbedder:
    """The embedder called ``name`` (built-in, else a user entry of ``model_dir``'s models.toml), with
    ``threads`` per onnxruntime session (``None``: one per core), at ``precision`` (``"int8"``: only the
    embedders of :data:`INT8_EMBEDDERS`; others raise :class:`ConfigError`)."""
    check_precision(name, precision)
    if precision == "int8":
        module, factory = INT8_EMBEDDERS[name].split(":")
        int8: FaceEmbedder = getattr(importlib.import_module(module), factory)(model_dir, threads)
        return int8
    if name in EMBEDDERS:
        module, factory = EMBEDDERS[name].split(":")
        embedder: FaceEmbedder = getattr(importlib.import_module(module), factory)(model_dir, threads)
        return embedder
    module, factory = _USER.split(":")
    embedder = getattr(importlib.import_module(module), factory)(name, model_dir, threads)
    return embedder


def check_precision(name: str, precision: str) -> None:
    """Raise :class:`ConfigError` unless embedder ``name`` runs at ``precision``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision == "int8" and name not in INT8_EMBEDDERS:
        raise ConfigError(f"embedder {name!r} has no int8 model; precision \"int8\" works with: "
                          f"{', '.join(sorted(INT8_EMBEDDERS))}")


def model_default_max_distance(name: str, model_dir: Path, precision: str = "fp32") -> float:
    """Embedder ``name``'s own Euclidean threshold, from its manifest entry (no model is loaded)."""
    if precision == "int8" and name in _INT8_MODEL_ENTRY:
        return float(entry(_INT8_MODEL_ENTRY[name])["default_max_distance"])
    if name in _MODEL_ENTRY:
        return float(entry(_MODEL_ENTRY[name])["default_max_distance"])
    return EmbedderSpec.from_entry(name, user_entry(name, model_dir, "embedder")).default_max_distance
