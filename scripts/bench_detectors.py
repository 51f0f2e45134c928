#!/usr/bin/env python3
"""Which face detector, at which width: recall, false detections and cost, measured side by side.

    .venv/bin/python scripts/bench_detectors.py [--widths 320,480,640] [--detectors mmod,mmod@1,yunet@0.9,yunet@0.8]
                                                [--threads N] [--repeat 3] [--json FILE]

Each detector runs on a copy of each image at most WIDTH pixels wide (``[engine] detect_max_width``),
over two labelled sets:

- ``testing.xml``: dlib's ``faces_detection/testing.xml`` (5 photos, 25 faces, most of them small);
- ``hamilton``: 22 frames of the hamilton clip labelled by hand (``tests/data/hamilton_faces.json``:
  36 faces, among them the far shot, frames 0-19, where Lin-Manuel Miranda is about 45 px and the
  pianist about 25 px); ``far`` counts the far shot's 10 faces alone.

A detection matches a labelled face at IoU >= 0.5 (greedy, highest score first, as ``facecam evaluate
detect``); ``found`` is labelled faces matched, ``false`` detections that match no face nor ignored box.
``ms`` is the median time of one detection on a 640x360 frame of the clip (the labelled frames,
``--repeat`` passes after a warm-up), downscaling included.

Detector names: ``mmod`` (dlib's MMOD CNN on onnxruntime), ``mmod@1`` (upsampled once), ``yunet@S``
(OpenCV Zoo's YuNet with minimum score S; its manifest default without ``@``), ``hog@1`` (dlib's HOG,
needs facecam[dlib]). YuNet needs its model in the model directory (``scripts/fetch_models.py
yunet_2026may``); ``--yunet FILE`` uses a copy elsewhere (checked against the manifest's sha256).
Threads: onnxruntime and OpenCV use ``--threads`` each (default: one per core). Timings are this
machine's: rows measured in one run compare; a Raspberry Pi is slower by a factor that
docs/raspberry-pi.md discusses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from camera.app import data_dir, model_dir  # noqa: E402
from camera.config import Config  # noqa: E402
from camera.cores import cpu_cores  # noqa: E402
from camera.detect import DetectConfig, FaceDetector, create_detector  # noqa: E402
from camera.detect.yunet import YUNET_ENTRY, YuNetDetector  # noqa: E402
from camera.evaluation.datasets import read_imglab_xml  # noqa: E402
from camera.evaluation.metrics import match_detections  # noqa: E402
from camera.imageio import load_image  # noqa: E402
from models import entry, sha256_file  # noqa: E402
from models.fetch import fetched_path  # noqa: E402

DATA = REPO.parent / "shared" / "data"
TESTING_XML = DATA / "davisking+dlib" / "faces_detection" / "testing.xml"
HAMILTON_LABELS = REPO / "tests" / "data" / "hamilton_faces.json"
#: the far shot of the hamilton clip: its first 20 frames
FAR_SHOT = range(20)
IOU_MIN = 0.5


@dataclass(frozen=True)
class LabelledImage:
    """An image with its faces and ignored boxes, (n, 4) xyxy pixels each."""

    name: str
    rgb: np.ndarray
    faces: np.ndarray
    ignore: np.ndarray


@dataclass
class Score:
    """Labelled faces found, of how many, and false detections."""

    found: int = 0
    faces: int = 0
    false: int = 0

    def add(self, det_xyxy: np.ndarray, det_scores: np.ndarray, img: LabelledImage) -> None:
        gt = np.concatenate([img.faces, img.ignore]).reshape(-1, 4)
        ignored = np.r_[np.zeros(len(img.faces), bool), np.ones(len(img.ignore), bool)]
        label, matched = match_detections(det_xyxy, det_scores, gt, ignored, IOU_MIN)
        self.found += int(matched[:len(img.faces)].sum())
        self.faces += len(img.faces)
        self.false += int((label == 0).sum())

    def __str__(self) -> str:
        return f"{self.found}/{self.faces}, {self.false} false"


def hamilton_frames(clip: Path, labels: Path) -> list[LabelledImage]:
    """The labelled frames of ``clip`` (RGB), in frame order."""
    spec = json.loads(labels.read_text())["frames"]
    wanted = {int(k): v for k, v in spec.items()}
    cap = cv2.VideoCapture(str(clip))
    out: list[LabelledImage] = []
    for i in range(max(wanted) + 1):
        ok, bgr = cap.read()
        if not ok:
            raise SystemExit(f"bench_detectors: {clip} ends at frame {i}, the labels go to {max(wanted)}")
        if i in wanted:
            box = wanted[i]
            out.append(LabelledImage(str(i), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                                     np.array(box["faces"], np.float32).reshape(-1, 4),
                                     np.array(box.get("ignore", []), np.float32).reshape(-1, 4)))
    cap.release()
    return out


def testing_photos(xml: Path) -> list[LabelledImage]:
    """dlib's annotated photos: faces and ignored boxes."""
    return [LabelledImage(t.path.name, load_image(t.path), t.xyxy[~t.ignore], t.xyxy[t.ignore])
            for t in read_imglab_xml(xml)]


def build(name: str, width: int, folder: Path, yunet: Path | None, threads: int | None) -> FaceDetector:
    """Detector ``name`` (see the module docstring) on copies at most ``width`` px wide."""
    base, _, arg = name.partition("@")
    if base == "yunet":
        e = entry(YUNET_ENTRY)
        path = yunet or fetched_path(YUNET_ENTRY, folder)
        if not path.is_file() or sha256_file(path) != e["sha256"]:
            raise SystemExit(f"bench_detectors: {path} is not the pinned {YUNET_ENTRY} "
                             f"(scripts/fetch_models.py {YUNET_ENTRY}, or --yunet FILE)")
        score = float(arg) if arg else float(e["default_min_score"])
        return YuNetDetector(DetectConfig(detect_max_width=width, min_face_px=0), 0, path, min_score=score,
                             nms_iou=float(e["nms_iou"]), top_k=int(e["top_k"]), threads=threads)
    upsample = int(arg) if arg else 0
    return create_detector(base, DetectConfig(detect_max_width=width, upsample=upsample, min_face_px=0),
                           folder, threads)


def measure(detector: FaceDetector, sets: dict[str, list[LabelledImage]], repeat: int) -> dict:
    """Scores per set (and the far shot), and the median ms of a detection on the hamilton frames."""
    scores = {k: Score() for k in (*sets, "far")}
    for set_name, images in sets.items():
        for img in images:
            det = detector.detect(img.rgb)
            scores[set_name].add(det.xyxy, det.scores, img)
            if set_name == "hamilton" and int(img.name) in FAR_SHOT:
                scores["far"].add(det.xyxy, det.scores, img)
    frames = [img.rgb for img in sets["hamilton"]]
    times = []
    for _ in range(repeat):
        for rgb in frames:
            t0 = time.perf_counter()
            detector.detect(rgb)
            times.append(time.perf_counter() - t0)
    return {**{k: asdict(v) for k, v in scores.items()}, "ms": 1000 * statistics.median(times),
            "text": {k: str(v) for k, v in scores.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--detectors", default="mmod,mmod@1,yunet@0.9,yunet@0.8,yunet@0.7",
                   help="comma-separated (see above)")
    p.add_argument("--widths", default="320,480,640", help="detect_max_width values, pixels")
    p.add_argument("--threads", type=int, help="threads for onnxruntime (default: one per core)")
    p.add_argument("--repeat", type=int, default=3, help="timed passes over the hamilton frames")
    p.add_argument("--clip", type=Path, default=DATA / "ageitgey+face_recognition" / "video" /
                   "short_hamilton_clip.mp4")
    p.add_argument("--yunet", type=Path, help="YuNet's file, if not in the model directory")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.threads:
        cv2.setNumThreads(args.threads)
    folder = model_dir(data_dir(Config()))
    sets = {"testing.xml": testing_photos(TESTING_XML), "hamilton": hamilton_frames(args.clip, HAMILTON_LABELS)}
    widths = [int(w) for w in args.widths.split(",")]
    print(f"# {cpu_cores()} cores, threads {args.threads or 'one per core'}; OpenCV {cv2.__version__}; "
          f"IoU >= {IOU_MIN}; ms: median of {args.repeat} x {len(sets['hamilton'])} 640x360 frames")
    print("| detector | width | testing.xml found, false | hamilton found, false | far shot found | ms a frame |")
    print("|---|---|---|---|---|---|")
    rows = []
    for name in args.detectors.split(","):
        for width in widths:
            r = measure(build(name, width, folder, args.yunet, args.threads), sets, args.repeat)
            rows.append({"detector": name, "width": width, **r})
            t = r["text"]
            print(f"| {name} | {width} | {t['testing.xml']} | {t['hamilton']} | {r['far']['found']}/"
                  f"{r['far']['faces']} | {r['ms']:.1f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "threads": args.threads, "cores": cpu_cores()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
