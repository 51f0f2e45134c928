#!/usr/bin/env python3
"""Per-stage timings: the onnx engine against dlib, on faces and frames of the hamilton clip.

    .venv/bin/python scripts/bench_stages.py [--source CLIP] [--faces 12] [--repeats 5]
                                             [--cnn-frames 2] [--skip-cnn] [--json FILE]

Embedding, per face, at batch 1 (one face in the frame) and batch 4 (four
boxes in the same frame, the face's box and three shifted by 2 px steps):

- onnx: ``landmarks`` (:class:`camera.dlibport.landmarks.ShapePredictor`), ``chip``
  (:func:`camera.dlibport.align.face_chips`), ``descriptor`` (the ResNet on the
  chips) and ``embed`` (:meth:`OnnxEmbedder.embed`, all three together).
- dlib: ``landmarks`` (``dlib.shape_predictor``, 5 points), ``chip``
  (``dlib.get_face_chips``), ``descriptor`` (``compute_face_descriptor`` on
  the chips) and ``embed`` (``face_recognition.face_encodings`` with
  ``known_face_locations``: the project's reference figure).

Detection, per frame, at the frame's own size and upsample 0: the onnx
MMOD detector (:class:`OnnxDetector`, split into ``pyramid``, ``network``
and ``decode``) against dlib's ``cnn_face_detection_model_v1``; dlib's CPU
time / wall time says how many cores it kept busy.

Faces come from the onnx detector on every few frames of the clip. Each
measurement runs dlib and onnx back to back on the same input, after one
warm-up pass; figures are medians in milliseconds. The machine may be
shared, so the ratios (dlib / onnx) are the figures to compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from camera.cores import cpu_cores  # noqa: E402
from camera.detect.config import DetectConfig  # noqa: E402
from camera.dlibport.align import face_chips  # noqa: E402
from camera.dlibport.mmod import decode, tiled_pyramid  # noqa: E402
from camera.engine import create_engine  # noqa: E402
from camera.types import Detections  # noqa: E402
from models import source_path  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "ageitgey+face_recognition" / "video" / "short_hamilton_clip.mp4"
STAGES = ("landmarks", "chip", "descriptor", "embed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_CLIP, help="video clip (default: hamilton)")
    parser.add_argument("--faces", type=int, default=12, help="faces (one per frame) to embed")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the faces")
    parser.add_argument("--cnn-frames", type=int, default=2, help="frames for MMOD vs dlib's CNN (~2 s each)")
    parser.add_argument("--skip-cnn", action="store_true", help="leave out the detector comparison")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    import dlib

    frames = read_frames(args.source)
    engine = create_engine("onnx", DetectConfig(detector="mmod", upsample=0, detect_max_width=None, min_face_px=0))
    samples = pick_faces(engine.detector, frames, args.faces)
    if not samples:
        parser.error(f"no faces found in {args.source}")
    ref = {
        "sp": dlib.shape_predictor(str(source_path("dlib_sp5"))),
        "net": dlib.face_recognition_model_v1(str(source_path("dlib_resnet_v1"))),
    }
    h, w = samples[0][0].shape[:2]
    print(f"{args.source.name}: {w}x{h}, {len(samples)} faces, median face "
          f"{statistics.median(float(d.sizes[0]) for _, d in samples):.0f} px; onnx threads {cpu_cores()}")
    report: dict[str, object] = {"clip": str(args.source), "frame": [w, h], "faces": len(samples)}
    for batch in (1, 4):
        onnx_ms, dlib_ms = time_embedding(engine.embedder, ref, samples, batch, args.repeats)
        report[f"embed_batch{batch}"] = {"onnx_ms_per_face": onnx_ms, "dlib_ms_per_face": dlib_ms}
        print(f"\nembedding, batch {batch} (ms per face)")
        print(f"  {'stage':<11}{'onnx':>9}{'dlib':>9}{'dlib/onnx':>11}")
        for stage in STAGES:
            print(f"  {stage:<11}{onnx_ms[stage]:9.2f}{dlib_ms[stage]:9.2f}{dlib_ms[stage] / onnx_ms[stage]:10.1f}x")
    if not args.skip_cnn:
        det = time_detection(engine.detector, dlib.cnn_face_detection_model_v1(str(source_path("dlib_mmod"))),
                             [f for f, _ in samples[:: max(1, len(samples) // max(args.cnn_frames, 1))]]
                             [:args.cnn_frames], args.repeats)
        report["detect"] = det
        print(f"\ndetection at {w}x{h}, upsample 0 (ms per frame, {det['frames']} frames)")
        print(f"  onnx MMOD   {det['onnx_ms']:9.1f}  (pyramid {det['pyramid_ms']:.1f}, network "
              f"{det['network_ms']:.1f}, decode {det['decode_ms']:.1f})")
        print(f"  dlib CNN    {det['dlib_ms']:9.1f}  (CPU/wall {det['dlib_cpu_per_wall']:.2f}: "
              f"{'one core' if det['dlib_cpu_per_wall'] < 1.3 else 'several cores'})")
        print(f"  dlib/onnx   {det['dlib_ms'] / det['onnx_ms']:9.1f}x   boxes onnx {det['onnx_boxes']}, "
              f"dlib {det['dlib_boxes']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def read_frames(clip: Path) -> list[np.ndarray]:
    """Every frame of ``clip`` as contiguous RGB uint8."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    cap.release()
    return frames


def pick_faces(detector, frames: list[np.ndarray], count: int) -> list[tuple[np.ndarray, Detections]]:
    """Up to ``count`` (frame, its best face) pairs, from frames spread over the clip."""
    out = []
    step = max(1, len(frames) // (2 * count))
    for rgb in frames[::step]:
        found = detector.detect(rgb)
        if len(found):
            out.append((rgb, found.select(np.array([0]))))
        if len(out) == count:
            break
    return out


def batch_of(det: Detections, batch: int) -> Detections:
    """``batch`` boxes: the face's own and copies shifted right and down by 2 px steps."""
    shift = np.arange(batch, dtype=np.float32)[:, None] * 2
    return Detections(det.xyxy[:1] + shift, np.repeat(det.scores[:1], batch))


def time_embedding(embedder, ref: dict, samples: list, batch: int, repeats: int) -> tuple[dict, dict]:
    """Median ms per face of each stage, onnx and dlib, each sample timed back to back."""
    onnx_t: dict[str, list[float]] = {s: [] for s in STAGES}
    dlib_t: dict[str, list[float]] = {s: [] for s in STAGES}
    for rep in range(repeats + 1):  # pass 0 warms up
        for rgb, det in samples:
            dets = batch_of(det, batch)
            ours, theirs = _onnx_stages(embedder, rgb, dets), _dlib_stages(ref, rgb, dets)
            if rep:
                for s in STAGES:
                    onnx_t[s].append(ours[s] / batch)
                    dlib_t[s].append(theirs[s] / batch)
    return ({s: statistics.median(v) for s, v in onnx_t.items()},
            {s: statistics.median(v) for s, v in dlib_t.items()})


def _onnx_stages(embedder, rgb: np.ndarray, dets: Detections) -> dict[str, float]:
    marks = _clock(embedder.landmarks, rgb, dets)
    chips = _clock(face_chips, rgb, marks.result)
    return {"landmarks": marks.ms, "chip": chips.ms,
            "descriptor": _clock(embedder.embed_chips, chips.result).ms,
            "embed": _clock(embedder.embed, rgb, dets).ms}


def _dlib_stages(ref: dict, rgb: np.ndarray, dets: Detections) -> dict[str, float]:
    import dlib
    import face_recognition

    def landmarks() -> object:
        return dlib.full_object_detections([ref["sp"](rgb, dlib.rectangle(*map(int, r))) for r in dets.to_dlib_rects()])

    shapes = _clock(landmarks)
    chips = _clock(dlib.get_face_chips, rgb, shapes.result, 150, 0.25)
    return {"landmarks": shapes.ms, "chip": chips.ms,
            "descriptor": _clock(ref["net"].compute_face_descriptor, chips.result).ms,
            "embed": _clock(face_recognition.face_encodings, rgb, dets.to_trbl()).ms}


def time_detection(detector, cnn, frames: list[np.ndarray], repeats: int) -> dict:
    """MMOD on onnx (whole and by part) against dlib's CNN, same frames, upsample 0.

    dlib's CNN takes seconds per frame, so it runs twice per frame (warm-up, timed)."""
    session = detector._session.get()
    onnx_t, pyr_t, net_t, dec_t, dlib_t, dlib_cpu = [], [], [], [], [], []
    onnx_boxes = dlib_boxes = 0
    for rep in range(repeats + 1):
        for rgb in frames:
            whole = _clock(detector.detect, rgb)
            pyramid = _clock(tiled_pyramid, rgb, detector.mean_rgb)
            canvas, rects = pyramid.result
            net = _clock(session.run, ["scores"], {"pyramid": canvas[None]})
            dec = _clock(decode, net.result[0][0, 0], rects, detector.min_score)
            if rep <= 1:
                cpu = time.process_time()
                theirs = _clock(cnn, rgb, 0)
                cpu = time.process_time() - cpu
                if rep == 1:
                    dlib_t.append(theirs.ms)
                    dlib_cpu.append(cpu * 1e3 / theirs.ms)
                    dlib_boxes += len(theirs.result)
                    onnx_boxes += len(whole.result)
            if rep:
                onnx_t.append(whole.ms)
                pyr_t.append(pyramid.ms)
                net_t.append(net.ms)
                dec_t.append(dec.ms)
    med = statistics.median
    return {"frames": len(frames), "onnx_ms": med(onnx_t), "pyramid_ms": med(pyr_t), "network_ms": med(net_t),
            "decode_ms": med(dec_t), "dlib_ms": med(dlib_t), "dlib_cpu_per_wall": med(dlib_cpu),
            "onnx_boxes": onnx_boxes, "dlib_boxes": dlib_boxes}


class _clock:
    """Runs ``fn(*args)`` once: ``.result`` and ``.ms`` (wall milliseconds)."""

    def __init__(self, fn, *args) -> None:
        start = time.perf_counter()
        self.result = fn(*args)
        self.ms = (time.perf_counter() - start) * 1e3


if __name__ == "__main__":
    raise SystemExit(main())
