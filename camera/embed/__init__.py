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

__all__ = ["EMBEDDERS", "ChipEmbedder", "FaceEmbedder", "create_embedder"]

#: built-in embedders: name -> "module:function", called as ``function(model_dir)``
EMBEDDERS: dict[str, str] = {
    "dlib_resnet": "camera.embed.resnet:create",  # dlib's ResNet on onnxruntime (no dlib needed)
    "dlib": "camera.embed.dlib:create",  # dlib's ResNet through face_recognition (facecam[dlib])
}
_USER = "camera.embed.manifest:create"


def create_embedder(name: str, model_dir: Path) -> FaceEmbedder:
    """The embedder called ``name`` (built-in, else a user entry of ``model_dir``'s models.toml)."""
    if name in EMBEDDERS:
        module, factory = EMBEDDERS[name].split(":")
        embedder: FaceEmbedder = getattr(importlib.import_module(module), factory)(model_dir)
        return embedder
    module, factory = _USER.split(":")
    embedder = getattr(importlib.import_module(module), factory)(name, model_dir)
    return embedder
