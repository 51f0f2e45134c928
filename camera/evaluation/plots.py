"""Matplotlib figures for the reports, each returned as PNG bytes (Agg backend, no display).

Distances are Euclidean (lower is more alike); thresholds are drawn as
vertical lines. Thumbnails crop the embedded face box with a 30 % margin.
"""

from __future__ import annotations

import io
import logging

import cv2
import numpy as np

from camera.errors import FacecamError, InvalidImage
from camera.evaluation.metrics import Roc
from camera.imageio import load_image

log = logging.getLogger(__name__)

__all__ = ["bars_png", "detections_png", "hist_png", "roc_png", "thumbs_png"]

#: Thumbnail height in pixels.
THUMB_PX = 112


def _plt():
    try:  # the evaluation extra: pip install 'facecam[eval]'
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise FacecamError("evaluation reports need matplotlib: pip install 'facecam[eval]'") from exc
    return plt


def _png(fig: object) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)
    return buf.getvalue()


def roc_png(curves: dict[str, Roc], title: str) -> bytes:
    """TAR against FAR (log scale) for each labelled curve."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for label, c in curves.items():
        ok = c.far > 0
        ax.plot(c.far[ok], c.tar[ok], label=f"{label} (AUC {c.auc:.4f})")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (different pairs accepted)")
    ax.set_ylabel("true accept rate (same pairs accepted)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)


def hist_png(pos: np.ndarray, neg: np.ndarray, thresholds: dict[str, float], title: str,
             pos_label: str = "same person", neg_label: str = "different people") -> bytes:
    """Histograms of finite distances of both kinds, with labelled threshold lines."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    allv = np.concatenate([pos, neg])
    bins = np.linspace(allv.min(), allv.max(), 50) if allv.size else 10
    ax.hist(pos, bins=bins, alpha=0.6, label=f"{pos_label} ({pos.size})", color="tab:green")
    ax.hist(neg, bins=bins, alpha=0.6, label=f"{neg_label} ({neg.size})", color="tab:red")
    for (label, t), style in zip(thresholds.items(), ["-", "--", ":", "-."] * 3, strict=False):
        if np.isfinite(t):
            ax.axvline(t, color="black", linestyle=style, label=f"{label} = {t:.3f}")
    ax.set_xlabel("Euclidean distance (lower = more alike)")
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def bars_png(labels: list[str], values: list[float], title: str, ylabel: str,
             colours: list[str] | None = None) -> bytes:
    """One bar per label (per-person breakdowns); values are fractions 0..1."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * len(labels) + 2), 3.6))
    ax.bar(range(len(labels)), values, color=colours or "tab:blue")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=90, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _thumb(path: str, box: tuple[float, float, float, float] | None) -> np.ndarray:

    try:
        rgb = load_image(path)
    except InvalidImage:
        return np.full((THUMB_PX, THUMB_PX, 3), 200, np.uint8)
    if box is not None:
        x1, y1, x2, y2 = box
        m = 0.3 * max(x2 - x1, y2 - y1)
        h, w = rgb.shape[:2]
        xa, ya = int(max(0, x1 - m)), int(max(0, y1 - m))
        xb, yb = int(min(w, x2 + m)), int(min(h, y2 + m))
        if xb > xa and yb > ya:
            rgb = rgb[ya:yb, xa:xb]
    scale = THUMB_PX / rgb.shape[0]
    return cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), THUMB_PX), interpolation=cv2.INTER_AREA)


def thumbs_png(rows: list[tuple[list[tuple[str, tuple[float, float, float, float] | None]], str]],
               title: str) -> bytes:
    """A grid: each row is some photos (path, face box or None) side by side and a caption."""
    plt = _plt()
    n = max(len(rows), 1)
    fig, axes = plt.subplots(n, 1, figsize=(6, 1.7 * n), squeeze=False)
    for ax, (photos, caption) in zip(axes[:, 0], rows, strict=False):
        tiles = [_thumb(p, b) for p, b in photos]
        gap = np.full((THUMB_PX, 6, 3), 255, np.uint8)
        strip = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1) if tiles else gap
        ax.imshow(strip)
        ax.set_title(caption, fontsize=8, loc="left")
        ax.axis("off")
    if not rows:
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "no errors", ha="center")
    axes[0, 0].figure.text(0.0, 1.0, title, fontsize=10, va="bottom")
    return _png(fig)


def detections_png(path: str, gt: list[list[float]], gt_matched: list[bool], det: list[list[float]],
                   det_label: list[int], title: str) -> bytes:
    """The photo with ground truth (green matched, orange missed) and detections
    (blue true positive, red false positive, grey matched an ignored box)."""
    plt = _plt()
    from matplotlib.patches import Rectangle

    try:
        rgb = load_image(path)
    except InvalidImage:
        rgb = np.full((100, 100, 3), 200, np.uint8)
    fig, ax = plt.subplots(figsize=(5, 5 * rgb.shape[0] / rgb.shape[1]))
    ax.imshow(rgb)
    for b, ok in zip(gt, gt_matched, strict=True):
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, lw=2,
                               ec="lime" if ok else "orange"))
    for b, lab in zip(det, det_label, strict=True):
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, lw=1.2, ls="--",
                               ec={1: "blue", 0: "red"}.get(lab, "grey")))
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    return _png(fig)
