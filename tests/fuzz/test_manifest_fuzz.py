"""Fuzzing the user model manifest (``models.toml`` in the model directory, read by ``models/user.py``).

Inputs: arbitrary bytes; deep nesting; TOML entries built from the real
embedder and detector keys with wrong types and odd values (file names too
long or starting with ``~user``, NaN and infinite numbers). Property: the
entries and their checked specs, or one :class:`ModelLoadError` line. Each
example writes to its own temporary model directory, never the shared cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from camera.detect import RUNTIMES
from camera.embed import model_default_max_distance
from models.errors import ModelLoadError
from models.user import (
    _DETECTOR_KEYS,
    _EMBEDDER_KEYS,
    USER_MANIFEST_NAME,
    DetectorSpec,
    EmbedderSpec,
    load_user_manifest,
    user_entry,
)
from tests.fuzz.support import assert_user_error, toml_any, toml_document

SHA = "0" * 64
#: values that are right for each key, so drawn entries often get past the first check
GOOD = {"kind": "embedder", "runtime": "onnxruntime", "file": "m.onnx", "sha256": SHA, "input_size": [112, 112],
        "colour_order": "rgb", "input_layout": "nchw", "input_dtype": "float32", "mean": [127.5, 127.5, 127.5],
        "std": [128.0, 128.0, 128.0], "alignment": "dlib_chip", "chip_padding": 0.25, "box_margin": 0.2,
        "l2_normalise": True, "default_max_distance": 1.1, "model_id": "m-v1", "default_min_score": 0.9,
        "nms_iou": 0.3, "top_k": 5000}
ODD = st.one_of(toml_any, st.sampled_from(["~nobody-at-all/m.onnx", "x" * 300 + ".onnx", "/dev/zero", "",
                                           "m\n.onnx\x1b[31m", "\u202egnp.onnx",
                                           float("nan"), float("inf"), -1, 0, 2**63 - 1, "A" * 64, "g" * 64]))


def _entry(kind: str, keys: set[str]) -> st.SearchStrategy[dict[str, object]]:
    """A valid entry of ``kind`` with up to three keys changed to odd values or left out, maybe one unknown key."""
    base = {k: GOOD[k] for k in sorted(keys) if k in GOOD} | {"kind": kind}
    if kind == "detector":
        base["runtime"] = "cv2.FaceDetectorYN"

    def mutate(changes: list[tuple[str, object]], unknown: bool) -> dict[str, object]:
        out = dict(base)
        for key, value in changes:
            if value is MISSING:
                out.pop(key, None)
            else:
                out[key] = value
        return out | ({"colour": "rgb"} if unknown else {})
    return st.builds(mutate, st.lists(st.tuples(st.sampled_from(sorted(keys)), st.one_of(ODD, st.just(MISSING))),
                                      max_size=3), st.booleans())


MISSING = object()
entries = st.one_of(_entry("embedder", _EMBEDDER_KEYS), _entry("detector", _DETECTOR_KEYS))
#: mostly entries the loader accepts, so their keys get checked; sometimes a built-in name or a bare value
manifests = st.one_of(
    st.dictionaries(st.sampled_from(["mine", "my-yunet", "x.y", "ü", "a\nb\x1b[31m"]), entries, min_size=1,
                    max_size=2),
    st.dictionaries(st.sampled_from(["mine", "dlib_resnet_v1", "yunet"]), st.one_of(entries, toml_any), max_size=3))


def _check(model_dir: Path) -> None:
    """Read the manifest and check every entry as both kinds; each works or raises one ModelLoadError line."""
    calls = [lambda: load_user_manifest(model_dir / USER_MANIFEST_NAME)]
    try:
        names = list(load_user_manifest(model_dir / USER_MANIFEST_NAME))
    except Exception:  # noqa: BLE001 - checked below, as the first call
        names = []
    for name in names:
        calls += [lambda n=name: EmbedderSpec.from_entry(n, user_entry(n, model_dir, "embedder")).verified_path(),
                  lambda n=name: DetectorSpec.from_entry(n, user_entry(n, model_dir, "detector"),
                                                         tuple(RUNTIMES)).verified_path(),
                  lambda n=name: model_default_max_distance(n, model_dir)]
    for call in calls:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
            assert_user_error(exc)
            assert isinstance(exc, ModelLoadError), exc


@settings(max_examples=60)
@given(data=st.binary(max_size=300))
# regression: bytes that are not UTF-8 raised UnicodeDecodeError out of tomllib.load: a traceback
@example(data=b"[mine]\nkind = \"embedder\"\n\xff")
# regression: arrays nested 5000 deep raised RecursionError out of tomllib
@example(data=b"x = " + b"[" * 5000 + b"]" * 5000)
def test_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    model_dir = tmp_path_factory.mktemp("models")
    (model_dir / USER_MANIFEST_NAME).write_bytes(data)
    _check(model_dir)


@settings(max_examples=150)
@given(manifest=manifests)
# regression: `chip_padding = "wide"` (or a list) raised ValueError/TypeError from float(): a traceback
@example(manifest={"mine": {**GOOD, "kind": "embedder", "chip_padding": "wide"}})
@example(manifest={"mine": {**GOOD, "kind": "embedder", "box_margin": [1]}})
# regression: `file = "~nobody-at-all/m.onnx"` raised RuntimeError from Path.expanduser(): a traceback
@example(manifest={"mine": {"kind": "detector", "runtime": "cv2.FaceDetectorYN", "sha256": SHA,
                            "file": "~nobody-at-all/m.onnx"}})
# regression: a file name too long for the file system raised OSError from Path.is_file(): a traceback
@example(manifest={"mine": {"kind": "detector", "runtime": "cv2.FaceDetectorYN", "sha256": SHA,
                            "file": "x" * 300 + ".onnx"}})
# regression: an entry name or a file name holding a newline or an escape was put raw into every error message
@example(manifest={"a\nb\x1b[31m": {"kind": "detector"}})
@example(manifest={"mine": {"kind": "detector", "runtime": "cv2.FaceDetectorYN", "sha256": SHA,
                            "file": "m\n.onnx\x1b[31m"}})
def test_entries_from_the_real_keys(tmp_path_factory: pytest.TempPathFactory,
                                    manifest: dict[str, object]) -> None:
    model_dir = tmp_path_factory.mktemp("models")
    (model_dir / USER_MANIFEST_NAME).write_text(toml_document(manifest), encoding="utf-8")
    _check(model_dir)
