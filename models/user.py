"""ONNX models the user supplies: a manifest of their own (``models.toml``), read like ours.

A user manifest is a TOML file, ``models.toml`` in the model directory
(``DATA_DIR/models`` or ``$FACECAM_MODEL_DIR``), with one table per model in
the layout of ``models/manifest.toml``. Everything about how a model runs
comes from its entry, never from guessing at tensor shapes. An embedder entry:

.. code-block:: toml

    [my_embedder]
    kind = "embedder"
    runtime = "onnxruntime"
    file = "my_embedder.onnx"        # relative to the manifest's folder, or absolute
    sha256 = "..."                   # the file is refused unless it hashes to this
    url = "https://..."              # optional: scripts/fetch_models.py downloads it
    input_size = [112, 112]          # [width, height] pixels
    colour_order = "rgb"             # "rgb" | "bgr"
    input_layout = "nchw"            # "nchw" | "nhwc"
    input_dtype = "float32"          # "float32" (value = (pixel - mean) / std) | "uint8" (raw pixels)
    mean = [127.5, 127.5, 127.5]     # per channel, in colour_order, 0..255 scale
    std = [128.0, 128.0, 128.0]
    alignment = "dlib_chip"          # "dlib_chip": 5-point similarity chip | "box": the detection box
    chip_padding = 0.25              # dlib_chip: padding around the 5-point template
    box_margin = 0.2                 # box: extra border on each side, as a fraction of the box size
    l2_normalise = true              # scale each output to unit length before matching
    default_max_distance = 1.1       # Euclidean; at or below it two faces are the same person
    model_id = "my_embedder-v1"      # stored beside every embedding; change it when the model changes

A detector entry names a ``runtime`` facecam knows (``cv2.FaceDetectorYN``:
a YuNet-format ONNX model, the format that OpenCV class reads, as the built-in
``yunet`` entry; facecam runs it with onnxruntime) and is chosen
with ``[engine] detector = "NAME"`` (onnx engine):

.. code-block:: toml

    [my_yunet]
    kind = "detector"
    runtime = "cv2.FaceDetectorYN"
    file = "my_yunet.onnx"
    sha256 = "..."
    url = "https://..."              # optional
    default_min_score = 0.9          # 0..1: weaker detections are dropped
    nms_iou = 0.3                    # 0..1: overlap above which the weaker box goes
    top_k = 5000                     # boxes kept before non-maximum suppression

A user entry may not reuse a built-in name. A missing or wrong key raises
:class:`~camera.errors.ModelLoadError` naming the file, the entry and the key.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import load_manifest, sha256_file
from models.errors import ModelLoadError

log = logging.getLogger(__name__)

__all__ = ["USER_MANIFEST_NAME", "DetectorSpec", "EmbedderSpec", "load_user_manifest", "user_entry"]

#: The user manifest's file name inside the model directory.
USER_MANIFEST_NAME = "models.toml"

_KINDS = ("embedder", "detector")
_EMBEDDER_KEYS = {
    "kind", "runtime", "file", "sha256", "url", "input_size", "colour_order", "input_layout", "input_dtype",
    "mean", "std", "alignment", "chip_padding", "box_margin", "l2_normalise", "default_max_distance",
    "model_id", "input_name", "output_name", "licence", "notes",
}

_DETECTOR_KEYS = {"kind", "runtime", "file", "sha256", "url", "default_min_score", "nms_iou", "top_k", "licence",
                  "notes"}


def load_user_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of the user manifest at ``path`` (``{}`` if there is no such file).

    Each entry gets ``_manifest`` (the file's path) so relative ``file`` names
    resolve beside it. Raises :class:`ModelLoadError` for unreadable TOML,
    a built-in name, or an unknown ``kind``.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, ValueError, RecursionError) as exc:  # TOMLDecodeError, UnicodeDecodeError; deep nesting
        raise ModelLoadError(f"{path}: cannot read the model manifest: {exc}") from exc
    builtin = load_manifest()
    out: dict[str, dict[str, Any]] = {}
    for name, e in data.items():
        if not name.isprintable():  # every message names the entry as [NAME]: no newline or escape in it
            raise ModelLoadError(f"{path}: entry {name!r}: a model name is printable text (no control characters)")
        if not isinstance(e, dict):
            raise ModelLoadError(f"{path}: {name!r} must be a table ([{name}]), not a value")
        if name in builtin:
            raise ModelLoadError(f"{path}: [{name}] is a built-in model name; give your model another name")
        if e.get("kind") not in _KINDS:
            raise ModelLoadError(f"{path}: [{name}] kind = {e.get('kind')!r}; expected one of {', '.join(_KINDS)}")
        out[name] = {**e, "_manifest": str(path)}
    return out


def user_entry(name: str, model_dir: Path | None, kind: str) -> dict[str, Any]:
    """Entry ``name`` of the user manifest in ``model_dir``, which must be of ``kind``."""
    if model_dir is None:
        raise ModelLoadError(f"model {name!r}: no model directory to look for {USER_MANIFEST_NAME} in")
    path = Path(model_dir) / USER_MANIFEST_NAME
    entries = load_user_manifest(path)
    if name not in entries:
        known = ", ".join(n for n, e in entries.items() if e["kind"] == kind) or "none"
        raise ModelLoadError(f"no {kind} {name!r} in {path} (user {kind}s there: {known})")
    e = entries[name]
    if e["kind"] != kind:
        raise ModelLoadError(f"{path}: [{name}] is a {e['kind']}, not a {kind}")
    return e


@dataclass(frozen=True)
class EmbedderSpec:
    """An embedder entry, checked. Sizes in pixels; ``mean``/``std`` per channel in the
    model's colour order on the 0..255 scale; distances Euclidean, lower is more alike."""

    name: str
    path: Path
    sha256: str
    width: int
    height: int
    colour_order: str
    layout: str
    dtype: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    alignment: str
    chip_padding: float
    box_margin: float
    l2_normalise: bool
    default_max_distance: float
    model_id: str
    input_name: str | None
    output_name: str | None

    @classmethod
    def from_entry(cls, name: str, e: dict[str, Any]) -> EmbedderSpec:
        """Validate entry ``name``; every problem names the manifest, the entry and the key."""
        where = f"{e.get('_manifest', 'manifest')}: [{name}]"

        def need(key: str) -> Any:
            if key not in e:
                raise ModelLoadError(f"{where}: missing key {key!r}")
            return e[key]

        def choice(key: str, options: tuple[str, ...], default: str | None = None) -> str:
            v = e.get(key, default) if default is not None else need(key)
            if v not in options:
                raise ModelLoadError(f"{where}: {key} = {v!r}; expected one of {', '.join(options)}")
            return v

        def triple(key: str, default: float) -> tuple[float, float, float]:
            v = e.get(key, [default] * 3)
            if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, int | float) for x in v)):
                raise ModelLoadError(f"{where}: {key} must be three numbers, got {v!r}")
            return (float(v[0]), float(v[1]), float(v[2]))

        unknown = sorted(set(e) - _EMBEDDER_KEYS - {"_manifest"})
        if unknown:
            raise ModelLoadError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                                 f"valid: {', '.join(sorted(_EMBEDDER_KEYS))}")
        choice("runtime", ("onnxruntime",), "onnxruntime")
        size = need("input_size")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(x, int) and 16 <= x <= 1024
                                                                   for x in size)):
            raise ModelLoadError(f"{where}: input_size must be [width, height], 16..1024 pixels, got {size!r}")
        alignment = choice("alignment", ("dlib_chip", "box"))
        if alignment == "dlib_chip" and size[0] != size[1]:
            raise ModelLoadError(f"{where}: alignment 'dlib_chip' makes square chips; input_size is {size}")
        std = triple("std", 1.0)
        if any(s == 0 for s in std):
            raise ModelLoadError(f"{where}: std must not contain 0")
        sha = _sha256_of(e, where)
        file = _file_of(e, where)
        max_d = need("default_max_distance")
        if not (isinstance(max_d, int | float) and max_d > 0):
            raise ModelLoadError(f"{where}: default_max_distance must be a positive number, got {max_d!r}")
        padding, margin = e.get("chip_padding", 0.25), e.get("box_margin", 0.0)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 2 for v in (padding, margin)):
            raise ModelLoadError(f"{where}: chip_padding and box_margin must be numbers within 0..2, got "
                                 f"{padding!r} and {margin!r}")
        return cls(
            name=name, path=file, sha256=sha, width=size[0], height=size[1],
            colour_order=choice("colour_order", ("rgb", "bgr")),
            layout=choice("input_layout", ("nchw", "nhwc")), dtype=choice("input_dtype", ("float32", "uint8")),
            mean=triple("mean", 0.0), std=std, alignment=alignment, chip_padding=float(padding),
            box_margin=float(margin),
            l2_normalise=bool(e.get("l2_normalise", False)), default_max_distance=float(max_d),
            model_id=str(e.get("model_id") or f"user:{name}"),
            input_name=e.get("input_name"), output_name=e.get("output_name"))

    def verified_path(self) -> Path:
        """The model file, after checking its sha256 against the entry."""
        return _verified(self.name, self.path, self.sha256)


@dataclass(frozen=True)
class DetectorSpec:
    """A detector entry, checked: ``runtime`` one of the runtimes the caller knows
    (:data:`camera.detect.RUNTIMES`), scores and IoU in 0..1."""

    name: str
    path: Path
    sha256: str
    runtime: str
    min_score: float
    nms_iou: float
    top_k: int

    @classmethod
    def from_entry(cls, name: str, e: dict[str, Any], runtimes: tuple[str, ...]) -> DetectorSpec:
        """Validate entry ``name``; every problem names the manifest, the entry and the key."""
        where = f"{e.get('_manifest', 'manifest')}: [{name}]"
        unknown = sorted(set(e) - _DETECTOR_KEYS - {"_manifest"})
        if unknown:
            raise ModelLoadError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                                 f"valid: {', '.join(sorted(_DETECTOR_KEYS))}")
        runtime = e.get("runtime")
        if runtime not in runtimes:
            raise ModelLoadError(f"{where}: runtime = {runtime!r}; expected one of {', '.join(runtimes)}")
        numbers = {}
        for key, default in (("default_min_score", 0.9), ("nms_iou", 0.3)):
            v = e.get(key, default)
            if not (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1):
                raise ModelLoadError(f"{where}: {key} must be a number within 0..1, got {v!r}")
            numbers[key] = float(v)
        top_k = e.get("top_k", 5000)
        if not (isinstance(top_k, int) and not isinstance(top_k, bool) and top_k >= 1):
            raise ModelLoadError(f"{where}: top_k must be a whole number >= 1, got {top_k!r}")
        return cls(name=name, path=_file_of(e, where), sha256=_sha256_of(e, where), runtime=runtime,
                   min_score=numbers["default_min_score"], nms_iou=numbers["nms_iou"], top_k=top_k)

    def verified_path(self) -> Path:
        """The model file, after checking its sha256 against the entry."""
        return _verified(self.name, self.path, self.sha256)


def _sha256_of(e: dict[str, Any], where: str) -> str:
    if "sha256" not in e:
        raise ModelLoadError(f"{where}: missing key 'sha256'")
    sha = e["sha256"]
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha)):
        raise ModelLoadError(f"{where}: sha256 must be 64 hex digits, got {sha!r}")
    return sha.lower()


def _file_of(e: dict[str, Any], where: str) -> Path:
    """The entry's ``file``, relative names resolved beside its manifest."""
    if "file" not in e:
        raise ModelLoadError(f"{where}: missing key 'file'")
    if not str(e["file"]).isprintable():  # messages show the path: no newline or escape in it
        raise ModelLoadError(f"{where}: file = {e['file']!r}: a file name without control characters")
    try:
        file = Path(str(e["file"])).expanduser()
    except RuntimeError as exc:  # "~someone/..." where there is no such user
        raise ModelLoadError(f"{where}: file = {e['file']!r}: {exc}") from exc
    return file if file.is_absolute() else Path(e.get("_manifest", ".")).parent / file


def _verified(name: str, path: Path, sha256: str) -> Path:
    """``path`` if it exists and hashes to ``sha256``; else a ModelLoadError saying what to do."""
    try:
        found = path.is_file()
    except OSError as exc:  # e.g. a name too long for the file system
        raise ModelLoadError(f"model {name!r}: {path}: {exc.strerror or exc}") from exc
    if not found:
        hint = (f"fetch it with `python scripts/fetch_models.py {name} --out {path.parent}`"
                if path.parent.joinpath(USER_MANIFEST_NAME).is_file() else "check the path")
        raise ModelLoadError(f"model {name!r}: {path} does not exist; {hint}")
    got = sha256_file(path)
    if got != sha256:
        raise ModelLoadError(f"{path} has sha256 {got}, its manifest entry pins {sha256}; refusing to run it")
    return path
