#!/usr/bin/env python3
"""The int8 descriptor against fp32: milliseconds per face at batch 1 and 8, interleaved, and how far the vectors move.

    .venv/bin/python scripts/bench_int8.py [--repeats 200] [--threads N] [--json FILE]

Chips are facecam's own (onnx engine: MMOD at upsample 0, dlib's 5 points and
150x150 chip) of every photo under ``../shared/data/ageitgey+face_recognition``
``identities/`` and ``knn_examples/`` with exactly one face. Both sessions are
made the way facecam makes them (:func:`camera.ort.make_session`, one thread
per core unless ``--threads``). Each repeat times fp32 then int8 on the same
chips, in one process, so both see the same machine load; the figures are
medians over repeats in milliseconds per face, and the ratio fp32 / int8
within the run is the figure to compare (on a shared machine the
milliseconds move from run to run).

Also printed: the Euclidean distance between each chip's fp32 and int8
vectors, and, over all pairs of chips, how far the pair's int8 distance is
from its fp32 distance.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from camera.cores import cpu_cores  # noqa: E402
from camera.engine import create_engine  # noqa: E402
from camera.imageio import load_image  # noqa: E402
from camera.ort import make_session  # noqa: E402
from models.convert import default_cache_dir, ensure_converted  # noqa: E402
from models.quantize import FP32_ENTRY, ensure_int8  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "ageitgey+face_recognition"
BATCHES = (1, 8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed rounds per batch size")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: one per core)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    env = os.environ.get("FACECAM_MODEL_DIR")  # as the evaluation scripts: else the model cache
    folder = Path(env).expanduser() if env else default_cache_dir()
    fp32_path = ensure_converted(FP32_ENTRY, folder).path
    int8_path = ensure_int8(folder).path
    chips = photo_chips(folder)
    sessions = {"fp32": make_session(fp32_path, args.threads), "int8": make_session(int8_path, args.threads)}
    vecs = {k: s.run(["descriptors"], {"chips": chips})[0].astype(np.float64) for k, s in sessions.items()}
    moved = np.linalg.norm(vecs["int8"] - vecs["fp32"], axis=1)
    iu = np.triu_indices(len(chips), 1)
    pair = {k: np.linalg.norm(v[:, None] - v[None], axis=2)[iu] for k, v in vecs.items()}
    pair_diff = np.abs(pair["int8"] - pair["fp32"])
    print(f"{len(chips)} chips; onnxruntime threads {args.threads or cpu_cores()}; {args.repeats} interleaved repeats")
    print(f"int8 vs fp32 vector: median {np.median(moved):.4f}, max {moved.max():.4f} (Euclidean)")
    print(f"pair distance change over {len(pair_diff)} pairs: median {np.median(pair_diff):.4f}, "
          f"max {pair_diff.max():.4f}")
    report: dict[str, object] = {"chips": len(chips), "threads": args.threads or cpu_cores(),
                                 "vector_moved_median": float(np.median(moved)), "vector_moved_max": float(moved.max()),
                                 "pair_change_median": float(np.median(pair_diff)),
                                 "pair_change_max": float(pair_diff.max())}
    print(f"\n{'batch':>5}{'fp32 ms/face':>14}{'int8 ms/face':>14}{'fp32/int8':>11}")
    for batch in BATCHES:
        ms = time_interleaved(sessions, chips, batch, args.repeats)
        ratio = ms["fp32"] / ms["int8"]
        report[f"batch{batch}"] = {**{f"{k}_ms_per_face": v for k, v in ms.items()}, "ratio": ratio}
        print(f"{batch:>5}{ms['fp32']:14.2f}{ms['int8']:14.2f}{ratio:10.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def photo_chips(folder: Path) -> np.ndarray:
    """facecam's chips (n, 150, 150, 3) of the one-face photos of :data:`PHOTOS`."""
    engine = create_engine("onnx", model_dir=folder)
    chips = []
    for path in sorted([*PHOTOS.glob("identities/*/*"), *PHOTOS.glob("knn_examples/*/*/*")]):
        rgb = load_image(path)
        det = engine.detector.detect(rgb)
        if len(det) == 1:
            chips.append(engine.embedder.chips(rgb, det)[0])
    return np.stack(chips)


def time_interleaved(sessions: dict, chips: np.ndarray, batch: int, repeats: int) -> dict[str, float]:
    """Median ms per face of each session at ``batch``, the sessions taking turns on the same chips."""
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for s in sessions.values():  # warm-up: first runs allocate
        s.run(["descriptors"], {"chips": chips[:batch]})
    for r in range(repeats):
        start = (r * batch) % max(1, len(chips) - batch + 1)
        x = np.ascontiguousarray(chips[start:start + batch])
        order = list(sessions.items())
        if r % 2:  # alternate who goes first, so neither always runs on a cache the other warmed
            order.reverse()
        for name, s in order:
            t0 = time.perf_counter()
            s.run(["descriptors"], {"chips": x})
            times[name].append((time.perf_counter() - t0) * 1000 / batch)
    return {k: statistics.median(v) for k, v in times.items()}


if __name__ == "__main__":
    raise SystemExit(main())
