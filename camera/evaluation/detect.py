"""Detection precision and recall against imglab XML boxes (dlib's ``testing.xml``).

Each detection is matched greedily, highest score first, to the unmatched
ground-truth box it overlaps most with IoU >= ``iou_min`` (0.5 by default).
Precision = TP / (TP + FP), recall = TP / (TP + FN). Boxes marked
``ignore='1'`` are neither misses nor, when matched, false detections. An
image that cannot be read is listed and its boxes count as misses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camera.errors import InvalidImage
from camera.evaluation.common import RunOptions
from camera.evaluation.datasets import GroundTruthImage, Problem, read_imglab_xml
from camera.evaluation.extract import get_engine
from camera.evaluation.metrics import iou_xyxy, match_detections
from camera.imageio import load_image

log = logging.getLogger(__name__)

__all__ = ["DetectResult", "EngineDetect", "ImageDetect", "evaluate_detect"]


@dataclass(frozen=True)
class ImageDetect:
    """One image: counts, and the boxes (xyxy pixels) for drawing."""

    path: str
    tp: int
    fp: int
    fn: int
    det_xyxy: list[list[float]]
    det_label: list[int]
    gt_xyxy: list[list[float]]
    gt_matched: list[bool]
    detect_s: float


@dataclass(frozen=True)
class EngineDetect:
    """One engine's totals; ``mean_iou`` over true positives; ``detect_s`` total seconds."""

    engine: str
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    mean_iou: float
    detect_s: float
    images: list[ImageDetect]
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class DetectResult:
    xml: str
    iou_min: float
    settings: str
    engines: list[EngineDetect]


def evaluate_detect(xml_path: Path, options: RunOptions, iou_min: float = 0.5,
                    root: Path | None = None) -> DetectResult:
    """Run each engine's detector on every annotated image of ``xml_path``."""
    truth = read_imglab_xml(xml_path, root)
    engines = [_run_engine(name, options, truth, iou_min) for name in options.engines]
    return DetectResult(str(xml_path), iou_min, options.describe_settings(), engines)


def _run_engine(name: str, options: RunOptions, truth: list[GroundTruthImage], iou_min: float) -> EngineDetect:
    detector = get_engine(name, options.settings_for(name)).detector
    images, problems, ious = [], [], []
    for gt in truth:
        try:
            rgb = load_image(gt.path)
        except InvalidImage as exc:
            n_gt = int((~gt.ignore).sum())
            problems.append(Problem(str(gt.path), "unreadable", str(exc), f"its {n_gt} boxes count as misses"))
            images.append(ImageDetect(str(gt.path), 0, 0, n_gt, [], [], gt.xyxy.tolist(),
                                      [False] * len(gt.xyxy), 0.0))
            continue
        t0 = time.perf_counter()
        det = detector.detect(rgb)
        dt = time.perf_counter() - t0
        label, matched = match_detections(det.xyxy, det.scores, gt.xyxy, gt.ignore, iou_min)
        if (label == 1).any():
            iou = iou_xyxy(det.xyxy[label == 1], gt.xyxy)
            ious += iou.max(axis=1).tolist()
        images.append(ImageDetect(str(gt.path), int((label == 1).sum()), int((label == 0).sum()),
                                  int((~matched & ~gt.ignore).sum()), det.xyxy.tolist(), label.tolist(),
                                  gt.xyxy.tolist(), matched.tolist(), dt))
    tp, fp, fn = (sum(getattr(i, k) for i in images) for k in ("tp", "fp", "fn"))
    return EngineDetect(name, tp / (tp + fp) if tp + fp else float("nan"),
                        tp / (tp + fn) if tp + fn else float("nan"), tp, fp, fn,
                        float(np.mean(ious)) if ious else float("nan"), sum(i.detect_s for i in images),
                        images, problems)
