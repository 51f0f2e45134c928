#!/usr/bin/env python3
"""Chips from YuNet's own five points against the pipeline's chips (dlib's 5-point predictor on YuNet's box).

    .venv/bin/python scripts/bench_yunet_chips.py [--threads 1] [--limit N] [--no-mmod] [--json FILE]

For every face YuNet finds (``create_detector("yunet")``, upsample 0,
detection on a copy at most 640 px wide, faces of 20 px and up: facecam's
defaults), two 150x150 chips (padding 0.25) go through dlib's ResNet
(``dlib_resnet``, onnxruntime, fp32):

- (a) the pipeline's chip: dlib's 5-point predictor (sp5) on YuNet's box,
  then dlib's chip (:func:`camera.dlibport.align.face_chips`);
- (b) the chip from YuNet's five points, put by a least-squares similarity
  transform onto a template of where they sit in dlib's chip
  (:func:`camera.dlibport.align.face_chips_from_landmarks`).

The template is measured here, on the TRAIN split only: the mean, over the
photos of LFW View 1 ``pairsDevTrain.txt``, of YuNet's points on the face
nearest each photo's centre (its subject), in the frame of the chip sp5
makes of that face (:func:`camera.dlibport.align.template_coordinates`).
Everything reported is
on photos it never saw: the photos of ``pairsDevTest.txt`` (LFW's View 1
DevTrain and DevTest people are disjoint) and the other photo sets of
``../shared/data``. The script prints the template and how far it is from
the library's :data:`~camera.dlibport.align.TEMPLATE_EYES_NOSE_MOUTH`.

Reported: the Euclidean distance between descriptors (a) and (b) of each
face (median, 95th percentile, max, n) beside the ResNet's threshold 0.6 and
LFW DevTest's median same-person distance; with the MMOD baseline (default
on), how far (a) already moves when sp5 runs on MMOD's box instead of
YuNet's (the same face, IoU >= 0.5), i.e. the pipeline's own noise; LFW
DevTest verification accuracy (the face nearest each photo's centre) with
chips (a), (b), and (a) against (b) (a gallery made with (a) and probes made
with (b)), at 0.6 and at the threshold best on DevTrain; and the time of
sp5 per face (what (b) saves; the chip and the ResNet cost the same for both).
Times are medians of 3 runs per photo, in milliseconds per face. The whole
run takes 5-7 minutes on a shared 2-core machine (``--limit 20``: under a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from camera.detect import create_detector  # noqa: E402
from camera.detect.config import DetectConfig  # noqa: E402
from camera.dlibport.align import (  # noqa: E402
    TEMPLATE_EYES_NOSE_MOUTH,
    face_chip_details,
    face_chips,
    face_chips_from_landmarks,
    template_coordinates,
)
from camera.dlibport.landmarks import ShapePredictor  # noqa: E402
from camera.embed import create_embedder  # noqa: E402
from camera.embed.resnet import ResnetEmbedder  # noqa: E402
from camera.evaluation.datasets import PairSet, list_photos, read_pairs  # noqa: E402
from camera.evaluation.extract import pick_face  # noqa: E402
from camera.evaluation.metrics import accuracy_at, best_threshold  # noqa: E402
from camera.geometry import iou_xyxy  # noqa: E402
from camera.imageio import load_image  # noqa: E402
from camera.types import Detections  # noqa: E402
from models.convert import default_cache_dir  # noqa: E402

DATA = REPO.parent / "shared" / "data"
LFW = DATA / "lfw-view1"
#: other photo sets for the per-face distances (every face YuNet finds in them)
OTHER_SETS = (DATA / "ageitgey+face_recognition", DATA / "serengil+deepface" / "identities",
              DATA / "timesler+facenet-pytorch" / "identities", DATA / "timesler+facenet-pytorch" / "multi")
THRESHOLD = 0.6  # dlib's ResNet: Euclidean, at or below it the same person


@dataclass(frozen=True)
class Face:
    """Where one photo's faces are: YuNet's detections and sp5's points (n, 5, 2) int64 pixels on its boxes."""

    path: Path
    detections: Detections
    parts: np.ndarray
    central: int  # the face nearest the photo's centre (-1: none)


@dataclass
class Vectors:
    """Descriptors (n, 128) of one photo's faces from chips (a), (b) and, where MMOD found the face, (a) on MMOD's
    box (rows of NaN where it did not)."""

    a: np.ndarray
    b: np.ndarray
    a_mmod: np.ndarray


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime and OpenCV threads (default 1)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos per set (quick runs)")
    parser.add_argument("--no-mmod", action="store_true", help="skip the MMOD-box baseline")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)
    env = os.environ.get("FACECAM_MODEL_DIR")
    model_dir = Path(env).expanduser() if env else default_cache_dir()
    detector = create_detector("yunet", DetectConfig(upsample=0), model_dir)
    mmod = None if args.no_mmod else create_detector("mmod", DetectConfig(upsample=0), model_dir, args.threads)
    embedder = create_embedder("dlib_resnet", model_dir, args.threads)
    if not isinstance(embedder, ResnetEmbedder):
        raise SystemExit("dlib_resnet is not the onnx ResNet embedder")
    report: dict[str, object] = {"threads": args.threads}

    train_pairs = read_pairs(LFW / "pairsDevTrain.txt").limited(args.limit)
    test_pairs = read_pairs(LFW / "pairsDevTest.txt").limited(args.limit)
    t0 = time.perf_counter()
    train = [locate(p, detector, embedder) for p in pair_photos(train_pairs)]
    # the photo's subject only (the face nearest the centre of LFW's 250x250 crops): bystanders' faces, many
    # and small, would make the template depend on the detector's score threshold
    coords = np.concatenate([template_coordinates(f.parts[[f.central]], f.detections.landmarks.points[[f.central]])
                             for f in train if f.detections.landmarks is not None and f.central >= 0])
    template = coords.mean(axis=0)
    spread_px = coords.std(axis=0) * 150 / 1.5  # in pixels of the 150 px chip (padding 0.25: 1.5 units across)
    print(f"YuNet: min score {getattr(detector, 'min_score', '?')}, upsample 0, detection at most 640 px wide, "
          f"faces of 20 px and up; ResNet fp32 on {args.threads} thread(s)")
    print(f"template from the central face of {len(coords)} of {len(train)} DevTrain photos "
          f"({time.perf_counter() - t0:.0f} s):")
    for name, (x, y), (sx, sy) in zip(("left eye", "right eye", "nose tip", "left mouth", "right mouth"),
                                      template, spread_px, strict=True):
        print(f"  {name:<12} [{x:.4f}, {y:.4f}]   sd {sx:.1f}, {sy:.1f} chip px")
    off = np.abs(template - TEMPLATE_EYES_NOSE_MOUTH).max() * 100
    print(f"  largest difference from TEMPLATE_EYES_NOSE_MOUTH: {off:.3f} chip px\n")
    report["template"] = template.round(4).tolist()
    report["template_faces"] = len(coords)
    report["template_sd_chip_px"] = spread_px.round(2).tolist()

    sets: dict[str, list[Path]] = {"LFW DevTest": pair_photos(test_pairs)}
    for folder in OTHER_SETS:
        sets[str(folder.relative_to(DATA))] = list_photos(folder, args.limit)
    per_set: dict[str, list[np.ndarray]] = {}
    lfw_vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    times: dict[str, list[float]] = {"sp5": [], "sp5_numpy": [], "details": [], "chip": [], "resnet": []}
    numpy_sp = ShapePredictor(embedder.shape_predictor.model, use_native=False)
    seen: list[tuple[float, str, float, float]] = []  # |a - b|, photo, face size px, YuNet score
    for set_name, paths in sets.items():
        rows = []
        for path in paths:
            rgb = load_image(path)
            face = locate(path, detector, embedder, rgb)
            if not len(face.detections):
                continue
            v = vectors(rgb, face, template, embedder, mmod)
            rows.append(np.stack([np.linalg.norm(v.a - v.b, axis=1), np.linalg.norm(v.a - v.a_mmod, axis=1)], 1))
            seen += [(float(x), str(path.relative_to(DATA)), float(size), float(score)) for x, size, score
                      in zip(rows[-1][:, 0], face.detections.sizes, face.detections.scores, strict=True)]
            if set_name == "LFW DevTest":
                lfw_vectors[str(path)] = v.a[face.central], v.b[face.central]
                time_stages(rgb, face, template, embedder, numpy_sp, times)
        per_set[set_name] = rows
    # the DevTrain photos' central faces, for the threshold best on DevTrain
    for face in train:
        if face.central >= 0:
            rgb = load_image(face.path)
            one = Face(face.path, face.detections.select(np.array([face.central])), face.parts[[face.central]], 0)
            v = vectors(rgb, one, template, embedder, None)
            lfw_vectors[str(face.path)] = v.a[0], v.b[0]

    print(f"{'photos':<44}{'faces':>6}{'median':>8}{'p95':>8}{'max':>8}{'> 0.6':>7}   |a - a(MMOD box)| median, p95, n")
    all_rows = []
    for set_name, rows in per_set.items():
        d = np.concatenate(rows) if rows else np.zeros((0, 2))
        all_rows.append(d)
        report[set_name] = summarise(set_name, d)
    d = np.concatenate(all_rows)
    report["all"] = summarise("all", d)
    sizes = np.array([size for _, _, size, _ in seen])
    dist = np.array([x for x, _, _, _ in seen])
    by_size: dict[str, dict[str, float | int]] = {}
    for lo, hi in ((20, 60), (60, 100), (100, 100000)):
        d = dist[(sizes >= lo) & (sizes < hi)]
        if len(d):
            label = f"{lo}-{hi} px" if hi < 100000 else f">= {lo} px"
            print(f"  faces {label:<12} n {len(d):5d}, median {np.median(d):.3f}, p95 {np.percentile(d, 95):.3f}, "
                  f"max {d.max():.3f}, > 0.6: {int((d > THRESHOLD).sum())}")
            by_size[label] = {"n": len(d), "median": float(np.median(d)), "p95": float(np.percentile(d, 95)),
                              "max": float(d.max()), "over_0.6": int((d > THRESHOLD).sum())}
    report["by_size"] = by_size
    seen.sort(reverse=True)
    print("farthest faces: " + "; ".join(f"{x:.3f} {p} ({size:.0f} px, score {sc:.2f})" for x, p, size, sc in seen[:6]))
    report["farthest"] = seen[:20]
    report["pairs"] = pairs_report(test_pairs, train_pairs, lfw_vectors)
    report["ms_per_face"] = {k: float(np.median(v)) * 1e3 for k, v in times.items() if v}
    print("\nmilliseconds per face (LFW DevTest, medians): " + ", ".join(
        f"{k} {v:.3f}" for k, v in report["ms_per_face"].items()))  # type: ignore[union-attr]
    print("  sp5: dlib's 5-point predictor (C; sp5_numpy: numpy); details: the chip's transform "
          "(both chips); chip: cutting it (both); resnet: one descriptor, batch of the photo's faces")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def pair_photos(pairs: PairSet) -> list[Path]:
    """The distinct photos a pairs file names, in order of first mention."""
    return list(dict.fromkeys(p for pair in pairs.pairs for p in (pair.path_a, pair.path_b)))


def locate(path: Path, detector, embedder: ResnetEmbedder, rgb: np.ndarray | None = None) -> Face:
    """YuNet's faces in the photo at ``path`` and sp5's points on their boxes."""
    rgb = load_image(path) if rgb is None else rgb
    det = detector.detect(rgb)
    if not len(det):
        return Face(path, det, np.zeros((0, 5, 2), np.int64), -1)
    return Face(path, det, embedder.landmarks(rgb, det), pick_face(det, rgb.shape[1], rgb.shape[0], "central"))


def vectors(rgb: np.ndarray, face: Face, template: np.ndarray, embedder: ResnetEmbedder, mmod) -> Vectors:
    """Descriptors of chips (a), (b) and (a) on MMOD's box for each of ``face``'s detections."""
    det = face.detections
    if det.landmarks is None:
        raise SystemExit(f"{face.path}: the detector gave no landmarks")
    n = len(det)
    chips = [face_chips(rgb, face.parts), face_chips_from_landmarks(rgb, det.landmarks, template=template)]
    hit = np.zeros(n, bool)
    found = mmod.detect(rgb) if mmod is not None else Detections.empty()
    if len(found):
        iou = iou_xyxy(det.xyxy, found.xyxy)
        best = iou.argmax(axis=1)
        hit = iou[np.arange(n), best] >= 0.5
        chips.append(face_chips(rgb, embedder.landmarks(rgb, found.select(best[hit]))))
    v = embedder.embed_chips(np.concatenate(chips))
    a_mmod = np.full((n, 128), np.nan)
    a_mmod[hit] = v[2 * n:]
    return Vectors(v[:n], v[n:2 * n], a_mmod)


def time_stages(rgb: np.ndarray, face: Face, template: np.ndarray, embedder: ResnetEmbedder,
                numpy_sp: ShapePredictor, times: dict[str, list[float]]) -> None:
    """Per-face seconds of sp5 (C and numpy), the chip transform, the chip and the ResNet: median of 3 runs."""
    det = face.detections
    rects = det.to_dlib_rects()
    n = len(det)
    if det.landmarks is None:
        raise SystemExit(f"{face.path}: the detector gave no landmarks")
    points = det.landmarks.points.astype(np.float64)
    chips = face_chips(rgb, face.parts)
    for key, run in (("sp5", lambda: embedder.shape_predictor.predict(rgb, rects)),
                     ("sp5_numpy", lambda: numpy_sp.predict(rgb, rects)),
                     ("details", lambda: [face_chip_details(p, template=template) for p in points]),
                     ("chip", lambda: face_chips(rgb, face.parts)),
                     ("resnet", lambda: embedder.embed_chips(chips))):
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            run()
            runs.append(time.perf_counter() - t)
        times[key].append(float(np.median(runs)) / n)


def summarise(name: str, d: np.ndarray) -> dict[str, float | int]:
    """Print and return the distribution of |a - b| (column 0) and |a - a(MMOD box)| (column 1)."""
    ab = d[:, 0]
    base = d[:, 1][np.isfinite(d[:, 1])]
    out: dict[str, float | int] = {"n": int(len(ab))}
    if len(ab):
        out |= {"median": float(np.median(ab)), "p95": float(np.percentile(ab, 95)), "max": float(ab.max()),
                "over_0.6": int((ab > THRESHOLD).sum())}
    if len(base):
        out |= {"mmod_median": float(np.median(base)), "mmod_p95": float(np.percentile(base, 95)),
                "mmod_n": int(len(base))}
    line = f"{name:<44}{out['n']:>6}"
    if len(ab):
        line += f"{out['median']:8.3f}{out['p95']:8.3f}{out['max']:8.3f}{out['over_0.6']:7d}"
    if len(base):
        line += f"   {out['mmod_median']:.3f}, {out['mmod_p95']:.3f}, {out['mmod_n']}"
    print(line)
    return out


def pairs_report(test: PairSet, train: PairSet, vecs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, object]:
    """LFW DevTest accuracy with chips (a), (b) and (a) vs (b): at 0.6 and at DevTrain's best threshold."""
    def distances(pairs: PairSet, ka: int, kb: int) -> np.ndarray:
        out = np.full(len(pairs.pairs), np.inf)  # a photo without a face: the pair counts as "different"
        for i, p in enumerate(pairs.pairs):
            va, vb = vecs.get(str(p.path_a)), vecs.get(str(p.path_b))
            if va is not None and vb is not None:
                out[i] = float(np.linalg.norm(va[ka] - vb[kb]))
        return out

    same_test = np.array([p.same for p in test.pairs])
    same_train = np.array([p.same for p in train.pairs])
    out: dict[str, object] = {}
    d_a = distances(test, 0, 0)
    missing = int((~np.isfinite(d_a)).sum())
    print(f"\nLFW View 1 DevTest, {len(test.pairs)} pairs ({missing} with a photo where YuNet found no face: "
          f"counted as 'different'); same-person distance with (a): median "
          f"{np.median(d_a[same_test & np.isfinite(d_a)]):.3f}, different people: "
          f"{np.median(d_a[~same_test & np.isfinite(d_a)]):.3f}")
    print(f"{'chips':<28}{'acc @0.6':>10}{'DevTrain t':>12}{'acc @t':>9}")
    for label, ka, kb in (("(a) sp5 on YuNet's box", 0, 0), ("(b) YuNet's own points", 1, 1),
                          ("(a) against (b)", 0, 1)):
        d = distances(test, ka, kb)
        t = best_threshold(distances(train, ka, kb), same_train)
        acc06, acct = accuracy_at(d, same_test, THRESHOLD), accuracy_at(d, same_test, t)
        print(f"{label:<28}{acc06:10.2%}{t:12.4f}{acct:9.2%}")
        out[label] = {"acc_0.6": acc06, "train_threshold": t, "acc_train_threshold": acct,
                      "same_median": float(np.median(d[same_test & np.isfinite(d)]))}
    out["missing_pairs"] = missing
    return out


if __name__ == "__main__":
    raise SystemExit(main())
