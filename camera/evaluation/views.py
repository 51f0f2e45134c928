"""Test-time augmentation: embed a face from several views of its chip and average.

dlib's ``compute_face_descriptor(..., num_jitters=N)`` averages N randomly
jittered copies of the chip (small shifts, scales, rotations and mirror
images). Its random numbers cannot be reproduced outside dlib, so facecam's views are
deterministic and the same for every engine: ``views = 1`` is the chip
itself, ``2`` adds its mirror image, and ``2k`` uses the chip and ``k - 1``
perturbed copies (drawn once, from a fixed seed, in dlib's jitter ranges:
shift up to 2 % of the chip each way, zoom out up to 3 %, rotate up to 3
degrees), each with its mirror. The perturbation is applied to the 150x150
chip with OpenCV (bilinear, black outside), so both engines see identical
pixels and their averaged vectors agree as their single ones do.

Costs grow with the number of views (the descriptor runs once per view), so
they are an evaluation option (``facecam evaluate ... --views N``), not
something for live frames.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from camera.types import Detections, Embeddings

__all__ = ["MAX_VIEWS", "augment_chips", "check_views", "embed_views", "view_transforms"]

MAX_VIEWS = 64
_SEED = 20261128
_SHIFT, _ZOOM_OUT, _DEGREES = 0.02, 0.03, 3.0


def check_views(views: int) -> int:
    """``views`` if valid (1, or an even number up to :data:`MAX_VIEWS`), else ``ValueError``."""
    if not (views == 1 or (views % 2 == 0 and 2 <= views <= MAX_VIEWS)):
        raise ValueError(f"views: expected 1 or an even number 2..{MAX_VIEWS}, got {views}")
    return views


@functools.lru_cache(maxsize=8)
def view_transforms(views: int, size: int = 150) -> tuple[np.ndarray, ...]:
    """The (2, 3) affine maps (chip pixels -> view pixels) of the unmirrored views: ``max(1, views // 2)``
    of them, the first the identity."""
    check_views(views)
    rng = np.random.default_rng(_SEED)
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    out = [np.array([[1.0, 0, 0], [0, 1.0, 0]])]
    for _ in range(max(1, views // 2) - 1):
        dx, dy = rng.uniform(-_SHIFT, _SHIFT, 2) * size
        scale = 1.0 - rng.uniform(0.0, _ZOOM_OUT)
        angle = rng.uniform(-_DEGREES, _DEGREES)
        m = cv2.getRotationMatrix2D(centre, angle, scale)
        m[:, 2] += (dx, dy)
        out.append(m)
    return tuple(out)


def augment_chips(chips: np.ndarray, views: int) -> np.ndarray:
    """(n, s, s, 3) uint8 chips -> (n * views, s, s, 3): each chip's views, consecutively
    (view 0 is the chip itself; with ``views >= 2`` each transform is followed by its mirror)."""
    check_views(views)
    if views == 1:
        return chips
    n, size = len(chips), chips.shape[1]
    out = np.empty((n * views,) + chips.shape[1:], np.uint8)
    k = 0
    for chip in chips:
        for m in view_transforms(views, size):
            v = chip if k % views == 0 else cv2.warpAffine(chip, m, (size, size), flags=cv2.INTER_LINEAR,
                                                          borderMode=cv2.BORDER_CONSTANT)
            out[k], out[k + 1] = v, v[:, ::-1]
            k += 2
    return out


def embed_views(embedder, rgb: np.ndarray, detections: Detections, views: int) -> Embeddings:
    """``embedder.embed`` averaged over ``views`` views of each face's chip.

    ``embedder`` must offer ``chips(rgb, detections)`` and ``embed_chips(chips)``
    (both engines' ResNet embedders do). The mean is not renormalised: dlib's
    vectors are not unit length either.
    """
    check_views(views)
    if views == 1 or len(detections) == 0:
        return embedder.embed(rgb, detections)
    chips = embedder.chips(rgb, detections)
    vectors = embedder.embed_chips(augment_chips(chips, views))
    return Embeddings(vectors.reshape(len(chips), views, -1).mean(axis=1), embedder.model_id)
