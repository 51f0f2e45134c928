"""Point geometry of the dlib port (landmarks, chips), in dlib's arithmetic.

Points are (x, y) pixels, x to the right and y down; boxes are xyxy pixels.
Functions are batched over a leading axis so many faces are handled in one call.
"""

from __future__ import annotations

import numpy as np


def similarity_transform(from_pts: np.ndarray, to_pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity transform (Umeyama) mapping ``from_pts`` onto ``to_pts``.

    ``from_pts`` and ``to_pts`` are (n, k, 2) (or (k, 2)); the result is
    ``(m, t)`` with ``m`` (n, 2, 2) = scale * rotation and ``t`` (n, 2), so a
    point maps as ``m @ p + t``. Computed in float64 as dlib's
    ``find_similarity_transform`` defines it (means, covariance, a proper
    rotation even when the points are mirrored, scale 1 for a degenerate
    source), with the 2-D closed form of its SVD step: for covariance
    ``[[p, q], [r, s]]`` the scaled rotation is ``[[p + s, q - r], [r - q, p + s]]
    / sigma_from``. It agrees with the SVD route to float64 rounding.
    """
    src = np.asarray(from_pts, np.float64)
    dst = np.asarray(to_pts, np.float64)
    single = src.ndim == 2
    if single:
        src, dst = src[None], dst[None]
    k = src.shape[1]
    mean_src = src.sum(axis=1) / k
    mean_dst = dst.sum(axis=1) / k
    ds = src - mean_src[:, None]
    dd = dst - mean_dst[:, None]
    sigma_src = (ds ** 2).sum(axis=(1, 2)) / k
    cov = np.einsum("nki,nkj->nij", dd, ds) / k
    degenerate = sigma_src == 0
    sigma = np.where(degenerate, 1.0, sigma_src)
    a = np.where(degenerate, 1.0, (cov[:, 0, 0] + cov[:, 1, 1]) / sigma)
    b = np.where(degenerate, 0.0, (cov[:, 1, 0] - cov[:, 0, 1]) / sigma)
    m = np.stack([np.stack([a, -b], axis=-1), np.stack([b, a], axis=-1)], axis=1)
    t = mean_dst - np.einsum("nij,nj->ni", m, mean_src)
    return (m[0], t[0]) if single else (m, t)


def round_half_up(v: np.ndarray) -> np.ndarray:
    """dlib's float-to-integer point conversion: ``floor(v + 0.5)`` as int64."""
    return np.floor(np.asarray(v, np.float64) + 0.5).astype(np.int64)
