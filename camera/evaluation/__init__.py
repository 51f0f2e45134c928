"""Offline evaluation: verification on pairs, open-set identification,
detection precision/recall and threshold calibration, with reports.

Library functions return result dataclasses; :mod:`camera.evaluation.cli`
is the command line (``scripts/evaluate.py``). Distances are Euclidean
between embeddings (lower is more alike); rates are fractions in [0, 1].
"""

from camera.evaluation.calibrate import Recommendation, calibrate_dir, recommend_threshold
from camera.evaluation.common import RunOptions
from camera.evaluation.detect import evaluate_detect
from camera.evaluation.extract import FacePolicy, embed_photos
from camera.evaluation.identify import evaluate_identify
from camera.evaluation.pairs import evaluate_pairs

__all__ = [
    "FacePolicy", "Recommendation", "RunOptions", "calibrate_dir", "embed_photos", "evaluate_detect",
    "evaluate_identify", "evaluate_pairs", "recommend_threshold",
]
