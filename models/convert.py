"""Convert dlib's face models to files facecam runs without dlib, with a manifest each.

* ``dlib_resnet_v1`` -> ``dlib_resnet_v1.onnx`` (150x150 RGB chip -> 128-d);
* ``dlib_mmod`` -> ``dlib_mmod.onnx`` (normalised tiled pyramid -> window scores);
* ``dlib_sp5`` -> ``dlib_sp5.npz`` (the 5-point regression-tree cascade as arrays,
  evaluated by :mod:`camera.dlibport.landmarks`; parsing the ``.dat`` takes ~3 s, loading this ~30 ms).

Outputs go to a cache directory (the engine's ``cache_dir``, else
``platformdirs.user_cache_dir("facecam")/models``), each written atomically
(temporary file + rename) and byte-for-byte repeatable. Beside each output
``NAME.json`` records the source file and its sha256, the output's sha256 and
the static facts from ``manifest.toml`` (input size, colour order, scaling,
default threshold). A cached output is reused only while its manifest
matches the source's sha256, this converter's version and the output's own
sha256; otherwise it is rebuilt.

Command line: ``python -m models.convert [--out DIR] [--force] [NAME ...]``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

from models import entry, sha256_file, verified_source_path
from models.dlib_dnn import read_dnn
from models.dlib_format import DlibFormatError, ShapePredictorModel, read_shape_predictor
from models.onnx_graphs import build_mmod, build_resnet

log = logging.getLogger(__name__)

#: Bump when the produced bytes change; cached outputs of another version are rebuilt.
CONVERTER_VERSION = 2

#: Manifest entries this module can convert (each names its output in ``converted_file``).
CONVERTIBLE = ("dlib_resnet_v1", "dlib_mmod", "dlib_sp5")

#: manifest.toml keys copied into each output's JSON manifest when present.
_STATIC_KEYS = ("kind", "model_id", "input_size", "colour_order", "scaling", "default_max_distance",
                "default_min_score", "mean_rgb", "window_px", "graph_input", "graph_output")


@dataclass(frozen=True)
class ConvertedModel:
    """A converted model on disk: ``path`` (the .onnx / .npz), its ``sha256``,
    and ``manifest_path`` (the JSON written beside it)."""

    name: str
    path: Path
    sha256: str
    manifest_path: Path


def default_cache_dir() -> Path:
    """``platformdirs.user_cache_dir("facecam")/models``."""
    return Path(user_cache_dir("facecam")) / "models"


def ensure_converted(name: str, cache_dir: Path | None = None, force: bool = False) -> ConvertedModel:
    """The converted file for manifest entry ``name``, converting it if missing or stale."""
    if name not in CONVERTIBLE:
        raise ValueError(f"cannot convert {name!r}; convertible: {', '.join(sorted(CONVERTIBLE))}")
    out_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    source = verified_source_path(name)
    source_sha = entry(name)["sha256"]
    out_path = out_dir / entry(name)["converted_file"]
    manifest_path = out_dir / f"{name}.json"
    if not force:
        cached = _cached(name, out_path, manifest_path, source_sha)
        if cached is not None:
            return cached
    log.info("converting %s (%s) into %s", name, source.name, out_dir)
    data = _convert_bytes(name, source)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_path, data)
    out_sha = sha256_file(out_path)
    atomic_write(manifest_path, manifest_json(name, source, source_sha, out_path.name, out_sha).encode())
    return ConvertedModel(name, out_path, out_sha, manifest_path)


def ensure_all(cache_dir: Path | None = None, force: bool = False) -> dict[str, ConvertedModel]:
    """Every convertible model, by manifest name."""
    return {name: ensure_converted(name, cache_dir, force) for name in CONVERTIBLE}


def manifest_json(name: str, source: Path, source_sha: str, out_file: str, out_sha: str) -> str:
    """The JSON manifest text for one converted model (sorted keys, stable bytes)."""
    e = entry(name)
    doc: dict[str, object] = {
        "name": name,
        "file": out_file,
        "sha256": out_sha,
        "source_file": source.name,
        "source_package": e["source_package"],
        "source_sha256": source_sha,
        "converter_version": CONVERTER_VERSION,
    }
    doc.update({k: e[k] for k in _STATIC_KEYS if k in e})
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shape_predictor_npz(model: ShapePredictorModel) -> bytes:
    """``model`` as an uncompressed .npz with fixed zip timestamps (repeatable bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for field in ("initial_shape", "split_idx", "split_thresh", "leaves", "anchor_idx", "deltas"):
            info = zipfile.ZipInfo(f"{field}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(getattr(model, field)), allow_pickle=False)
            z.writestr(info, arr.getvalue())
    return buf.getvalue()


def load_shape_predictor_npz(path: Path) -> ShapePredictorModel:
    """Read what :func:`shape_predictor_npz` wrote; indices as int32 (they are below 800: the file's int64
    would hold 1.8 MB more, and the C cascade reads int32 without a copy)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k in ("split_idx", "anchor_idx"):
        if k in arrays and arrays[k].dtype.kind in "iu":
            arrays[k] = arrays[k].astype(np.int32)
    return ShapePredictorModel(**arrays)


def _cached(name: str, out_path: Path, manifest_path: Path, source_sha: str) -> ConvertedModel | None:
    if not (out_path.is_file() and manifest_path.is_file()):
        return None
    try:
        doc = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable manifest (%s); converting again", manifest_path, exc)
        return None
    if doc.get("source_sha256") != source_sha or doc.get("converter_version") != CONVERTER_VERSION:
        log.info("%s is stale (other source or converter version); converting again", out_path)
        return None
    out_sha = sha256_file(out_path)
    if doc.get("sha256") != out_sha:
        log.warning("%s does not match its manifest's sha256; converting again", out_path)
        return None
    return ConvertedModel(name, out_path, out_sha, manifest_path)


def _convert_bytes(name: str, source: Path) -> bytes:

    if name == "dlib_sp5":
        return shape_predictor_npz(read_shape_predictor(source))

    build = build_resnet if name == "dlib_resnet_v1" else build_mmod
    dnn = read_dnn(source)
    want = entry(name).get("mean_rgb")
    if want is not None and not np.array_equal(np.float32(want), np.float32(dnn.input.avg_rgb)):
        raise DlibFormatError(f"{source}: input means {dnn.input.avg_rgb} differ from the manifest's {want}")
    return build(dnn).serialize()


def main(argv: list[str] | None = None) -> int:
    """``python -m models.convert``: convert (or check) the models and list what is there."""
    parser = argparse.ArgumentParser(prog="python -m models.convert", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: the user cache dir's facecam/models)")
    parser.add_argument("--force", action="store_true", help="convert even when the cache is current")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to convert (default: all of {', '.join(CONVERTIBLE)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in CONVERTIBLE]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(CONVERTIBLE)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in args.names or list(CONVERTIBLE):
        done = ensure_converted(name, args.out, args.force)
        print(f"{done.name}\t{done.path}\tsha256={done.sha256}")  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
