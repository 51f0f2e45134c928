"""dlib's ResNet descriptor with int8 weights and activations, made from the converted fp32 graph.

``ensure_int8(cache_dir)`` writes ``dlib_resnet_v1.int8.onnx`` beside the fp32
``dlib_resnet_v1.onnx`` (converting that first if needed), with
``dlib_resnet_v1_int8.json`` recording how it was derived. It is onnxruntime's
static quantization (``onnxruntime.quantization.quantize_static``): QDQ format,
int8 weights per output channel, uint8 activations per tensor, every node
but the final 128-d MatMul (kept in float: quantizing it costs accuracy and
saves no time).

The activation ranges are not measured at run time: they were measured once
on aligned face chips (``scripts/calibrate_int8.py``, LFW View 1 DevTrain
photos through facecam's own detector and chip) and are kept in
``RANGES_PATH`` beside this file, with the fp32 graph's sha256 they belong
to. So making the int8 model needs no photos, no download, and gives the
same bytes for the same onnxruntime. A cached output is reused while its
manifest matches the fp32 graph's sha256, the ranges' sha256, this module's
version, the onnxruntime version and the output's own sha256.

Quantizing needs the ``onnx`` package (``pip install 'facecam[int8]'``);
running the result needs only onnxruntime.

Command line: ``python -m models.quantize [--out DIR] [--force]``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import tempfile
from pathlib import Path

import onnxruntime

from models import entry, sha256_file
from models.convert import ConvertedModel, atomic_write, default_cache_dir, ensure_converted
from models.errors import ModelLoadError

log = logging.getLogger(__name__)

#: The manifest entry of the int8 descriptor and the fp32 entry it is made from.
INT8_ENTRY = "dlib_resnet_v1_int8"
FP32_ENTRY = "dlib_resnet_v1"
#: Activation ranges measured by scripts/calibrate_int8.py (committed; a few kB).
RANGES_PATH = Path(__file__).with_name("dlib_resnet_v1.int8-ranges.json")
#: Bump when the produced bytes change for the same inputs; cached outputs of another version are rebuilt.
QUANTIZER_VERSION = 1
#: Operators left in float32.
KEEP_FLOAT_OPS = ("MatMul",)


def quantization_settings() -> dict[str, object]:
    """What :func:`ensure_int8` passes to ``quantize_static`` besides the model and ranges (recorded)."""
    return {"quant_format": "QDQ", "per_channel": True, "activation_type": "QUInt8", "weight_type": "QInt8",
            "calibrate_method": "MinMax", "keep_float_ops": list(KEEP_FLOAT_OPS)}


def ensure_int8(cache_dir: Path | None = None, force: bool = False) -> ConvertedModel:
    """The int8 descriptor in ``cache_dir`` (default: the model cache), made from the fp32 graph if missing
    or stale. Raises :class:`ModelLoadError` when the ``onnx`` package or the ranges file is missing, or
    the ranges were measured on another fp32 graph."""
    out_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    fp32 = ensure_converted(FP32_ENTRY, out_dir)
    ranges = load_ranges(fp32.sha256)
    ranges_sha = sha256_file(RANGES_PATH)
    ort_version = str(onnxruntime.__version__)
    out_path = out_dir / entry(INT8_ENTRY)["converted_file"]
    manifest_path = out_dir / f"{INT8_ENTRY}.json"
    want = {"source_sha256": fp32.sha256, "ranges_sha256": ranges_sha, "quantizer_version": QUANTIZER_VERSION,
            "onnxruntime": ort_version}
    if not force:
        cached = _cached(out_path, manifest_path, want)
        if cached is not None:
            return cached
    log.info("quantizing %s to int8 into %s (a few seconds)", fp32.path.name, out_dir)
    _quantize(fp32.path, ranges, out_path)
    out_sha = sha256_file(out_path)
    e = entry(INT8_ENTRY)
    doc: dict[str, object] = {"name": INT8_ENTRY, "file": out_path.name, "sha256": out_sha,
                              "source_file": fp32.path.name, "ranges_file": RANGES_PATH.name,
                              "quantization": quantization_settings(), **want}
    doc.update({k: e[k] for k in ("kind", "model_id", "input_size", "colour_order", "default_max_distance",
                                  "graph_input", "graph_output") if k in e})
    atomic_write(manifest_path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    return ConvertedModel(INT8_ENTRY, out_path, out_sha, manifest_path)


def load_ranges(fp32_sha256: str) -> dict:
    """The onnxruntime calibration ranges of :data:`RANGES_PATH`, checked to belong to the fp32 graph
    ``fp32_sha256``."""
    try:
        doc = json.loads(RANGES_PATH.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the int8 calibration ranges {RANGES_PATH}: {exc}") from exc
    if doc.get("fp32_sha256") != fp32_sha256:
        raise ModelLoadError(f"{RANGES_PATH} was measured on the fp32 graph {doc.get('fp32_sha256')}, not on "
                             f"{fp32_sha256}; run scripts/calibrate_int8.py again")
    ranges: dict = doc["ranges"]
    return ranges


def _quantize(fp32_path: Path, ranges: dict, out_path: Path) -> None:
    try:
        import onnx  # noqa: F401 - onnxruntime.quantization needs it; say so plainly when it is missing
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    except ImportError as exc:
        raise ModelLoadError(f"making the int8 model needs the onnx package: pip install 'facecam[int8]' "
                             f"({exc})") from exc
    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise ModelLoadError("making the int8 model needs an onnxruntime whose quantize_static takes "
                             "calibration_cache_path (1.32 has it); pip install -U onnxruntime")
    exclude = _nodes_of(fp32_path, KEEP_FLOAT_OPS)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".int8.", dir=out_path.parent) as tmp:
        cache = Path(tmp) / "ranges.json"
        cache.write_text(json.dumps(ranges))
        made = Path(tmp) / out_path.name
        quantize_static(str(fp32_path), str(made), None, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=exclude,
                        calibration_cache_path=str(cache))
        os.chmod(made, 0o644)
        os.replace(made, out_path)


def _nodes_of(path: Path, op_types: tuple[str, ...]) -> list[str]:
    import onnx  # optional (facecam[int8]); _quantize has checked it is there

    return [n.name for n in onnx.load(str(path)).graph.node if n.op_type in op_types]


def _cached(out_path: Path, manifest_path: Path, want: dict[str, object]) -> ConvertedModel | None:
    if not (out_path.is_file() and manifest_path.is_file()):
        return None
    try:
        doc = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable manifest (%s); quantizing again", manifest_path, exc)
        return None
    if any(doc.get(k) != v for k, v in want.items()):
        log.info("%s is stale (other fp32 graph, ranges, quantizer or onnxruntime); quantizing again", out_path)
        return None
    out_sha = sha256_file(out_path)
    if doc.get("sha256") != out_sha:
        log.warning("%s does not match its manifest's sha256; quantizing again", out_path)
        return None
    return ConvertedModel(INT8_ENTRY, out_path, out_sha, manifest_path)


def main(argv: list[str] | None = None) -> int:
    """``python -m models.quantize``: make (or check) the int8 descriptor."""
    parser = argparse.ArgumentParser(prog="python -m models.quantize", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="model folder (default: the user cache dir's facecam/models)")
    parser.add_argument("--force", action="store_true", help="quantize even when the cache is current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    done = ensure_int8(args.out, args.force)
    print(f"{done.name}\t{done.path}\tsha256={done.sha256}")  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
