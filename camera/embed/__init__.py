"""Face embedding: a registry of embedders, one module each.

Adding an embedder is one module with a ``create(model_dir)`` factory and one
line in :data:`EMBEDDERS`. Names not in the registry are embedder entries of
the user's ``models.toml`` (:mod:`camera.embed.manifest`). Modules are
imported only when chosen.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from camera.embed.base import ChipEmbedder, FaceEmbedder
from models import entry
from models.user import EmbedderSpec, user_entry

__all__ = ["EMBEDDERS", "ChipEmbedder", "FaceEmbedder", "create_embedder", "model_default_max_distance"]

#: built-in embedders: name -> "module:function", called as ``function(model_dir)``
EMBEDDERS: dict[str, str] = {
    "dlib_resnet": "camera.embed.resnet:create",  # dlib's ResNet on onnxruntime (no dlib needed)
    "dlib": "camera.embed.dlib:create",  # dlib's ResNet through face_recognition (facecam[dlib])
}
_USER = "camera.embed.manifest:create"
#: the manifest entry of each built-in embedder's model (for its facts, without loading it)
_MODEL_ENTRY = {"dlib_resnet": "dlib_resnet_v1", "dlib": "dlib_resnet_v1"}


def create_embedder(name: str, model_dir: Path) -> FaceEmbedder:
    """The embedder called ``name`` (built-in, else a user entry of ``model_dir``'s models.toml)."""
    if name in EMBEDDERS:
        module, factory = EMBEDDERS[name].split(":")
        embedder: FaceEmbedder = getattr(importlib.import_module(module), factory)(model_dir)
        return embedder
    module, factory = _USER.split(":")
    embedder = getattr(importlib.import_module(module), factory)(name, model_dir)
    return embedder


def model_default_max_distance(name: str, model_dir: Path) -> float:
    """Embedder ``name``'s own Euclidean threshold, from its manifest entry (no model is loaded)."""
    if name in _MODEL_ENTRY:
        return float(entry(_MODEL_ENTRY[name])["default_max_distance"])
    return EmbedderSpec.from_entry(name, user_entry(name, model_dir, "embedder")).default_max_distance
