"""Engine registry: a name → a factory that builds an :class:`Engine`.

Unknown names raise and list the valid ones; there is no silent fallback.
Backends are imported only when chosen, so ``onnx`` never imports dlib.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from camera.engines.base import DetectorSettings, Engine, FaceDetector, FaceEmbedder
from camera.errors import ConfigError

__all__ = ["ENGINES", "DetectorSettings", "Engine", "FaceDetector", "FaceEmbedder", "create_engine"]

#: engine name → "module:factory"; each factory takes (settings, cache_dir).
ENGINES: dict[str, str] = {
    "dlib": "camera.engines.dlib_engine:create",
    "onnx": "camera.engines.onnx_engine:create",
}


#: Engines that run embedders the user supplies (``models.toml`` in the model directory).
USER_EMBEDDER_ENGINES = ("onnx",)


def create_engine(name: str, settings: DetectorSettings | None = None,
                  cache_dir: Path | None = None, embedder: str | None = None) -> Engine:
    """Build the engine called ``name``.

    ``cache_dir`` is where an engine may keep converted models (the data
    directory's ``models/``). ``embedder`` names a user embedder entry in
    ``cache_dir/models.toml`` (``None``: the engine's own). Raises
    :class:`ConfigError` for an unknown name or an engine that cannot run
    user embedders.
    """
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of: {', '.join(sorted(ENGINES))}")
    module_name, factory = ENGINES[name].split(":")
    module = importlib.import_module(module_name)
    if embedder is None:
        return getattr(module, factory)(settings or DetectorSettings(), cache_dir)
    if name not in USER_EMBEDDER_ENGINES:
        raise ConfigError(f"engine {name!r} runs only its own embedder; user embedders ({embedder!r}) "
                          f"run on: {', '.join(USER_EMBEDDER_ENGINES)}")
    return getattr(module, factory)(settings or DetectorSettings(), cache_dir, embedder=embedder)
