#!/usr/bin/env python3
"""Measure the int8 descriptor's activation ranges on real aligned face chips; writes models/dlib_resnet_v1.int8-ranges.json.

    .venv/bin/python scripts/calibrate_int8.py [--photos 320] [--out models/dlib_resnet_v1.int8-ranges.json]

The chips are cut the way facecam cuts them (the onnx engine's MMOD detector
at upsample 0, the face nearest the centre, dlib's 5 points and 150x150
chip) from the first photo of evenly spaced people of LFW View 1
``peopleDevTrain.txt`` in ``../shared/data/lfw-view1``: DevTrain's people are
not DevTest's, so LFW View 1 DevTest accuracy stays a fair test of the
result. onnxruntime's MinMax calibrator runs the fp32 graph on them; the
ranges are kept with the fp32 graph's sha256 and the photos used, and
:mod:`models.quantize` makes the int8 model from them on first use (no
photos needed there). Rerun it only when the fp32 graph changes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from camera.engine import create_engine  # noqa: E402
from camera.evaluation.extract import pick_face  # noqa: E402
from camera.imageio import load_image  # noqa: E402
from models.convert import default_cache_dir, ensure_converted  # noqa: E402
from models.quantize import FP32_ENTRY, RANGES_PATH  # noqa: E402

LFW = REPO.parent / "shared" / "data" / "lfw-view1"
BATCH = 16


def calibration_photos(lfw: Path, count: int) -> list[Path]:
    """The first photo of ``count`` evenly spaced DevTrain people that have one in ``lfw``."""
    lines = (lfw / "peopleDevTrain.txt").read_text().split("\n")[1:]
    people = [line.split("\t")[0] for line in lines if line.strip()]
    firsts = [p for name in people for p in sorted((lfw / "lfw_deepfunneled" / name).glob("*.jpg"))[:1]]
    step = max(1, len(firsts) // count)
    return firsts[::step][:count]


def aligned_chips(photos: list[Path], folder: Path) -> tuple[np.ndarray, list[str]]:
    """facecam's chips (n, 150, 150, 3) uint8 RGB of the face nearest each photo's centre, and the photos used."""
    engine = create_engine("onnx", model_dir=folder)
    chips, used = [], []
    for path in photos:
        rgb = load_image(path)
        det = engine.detector.detect(rgb)
        if len(det) == 0:
            continue
        i = pick_face(det, rgb.shape[1], rgb.shape[0], "central")
        chips.append(engine.embedder.chips(rgb, det.select(np.array([i])))[0])
        used.append(path.relative_to(LFW.parent).as_posix())
    return np.stack(chips), used


class ChipReader:
    """onnxruntime's CalibrationDataReader protocol over a chip array, ``BATCH`` chips a run."""

    def __init__(self, chips: np.ndarray) -> None:
        self._chips = chips
        self._at = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._at >= len(self._chips):
            return None
        batch = self._chips[self._at:self._at + BATCH]
        self._at += BATCH
        return {"chips": batch}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=320, help="calibration photos (one chip each)")
    parser.add_argument("--lfw", type=Path, default=LFW, help="LFW View 1 folder")
    parser.add_argument("--out", type=Path, default=RANGES_PATH, help="ranges file to write")
    args = parser.parse_args(argv)
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    env = os.environ.get("FACECAM_MODEL_DIR")
    folder = Path(env).expanduser() if env else default_cache_dir()
    fp32 = ensure_converted(FP32_ENTRY, folder)
    chips, used = aligned_chips(calibration_photos(args.lfw, args.photos), folder)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "ranges.json"
        quantize_static(str(fp32.path), str(Path(tmp) / "q.onnx"), ChipReader(chips),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        calibration_cache_path=str(cache))
        ranges = json.loads(cache.read_text())
    doc = {"fp32_sha256": fp32.sha256, "method": "onnxruntime MinMax calibrator, fp32 graph, batches of 16",
           "chips": len(used), "photos": used, "ranges": ranges}
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"{args.out}: ranges of {len(ranges.get('data', ranges))} tensors from {len(used)} chips")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
