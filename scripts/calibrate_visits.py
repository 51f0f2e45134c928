#!/usr/bin/env python3
"""Measure the per-track decision's defaults on real photos from ../shared/data.

    .venv/bin/python scripts/calibrate_visits.py [--household 40] [--strangers 60] [--cache FILE]

A household of LFW View 1 people (the first photo of each enrolled, their
other photos as genuine "visits") faces strangers: the other LFW people and
the 13 deepface identities, each stranger's photos forming one track. Every
photo is placed on a 640x480 grey frame (as a camera would see it) and goes
through the real engine (detection with landmarks, quality, embedding).

Reported: single-frame false accepts (a stranger's frame within
``max_distance`` of someone: what a per-frame pipeline would alert on),
track false accepts and genuine track acceptance for a grid of
``min_votes`` / ``min_margin`` / ``min_agreement``, and the distance
distributions behind ``link_max_distance`` and the negative-example rule.
Embeddings are cached in ``--cache`` (default /tmp/facecam-calibrate.npz).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from camera.detect.config import DetectConfig  # noqa: E402
from camera.engine import create_engine  # noqa: E402
from camera.imageio import load_image  # noqa: E402
from camera.matching import pairwise_distances  # noqa: E402
from camera.track.config import TrackingConfig  # noqa: E402
from camera.track.decision import Observation, decide_track, weighted_distances  # noqa: E402
from camera.track.quality import frame_qualities  # noqa: E402

DATA = REPO.parent / "shared" / "data"
LFW = DATA / "lfw-view1" / "lfw_deepfunneled"
DEEPFACE = DATA / "serengil+deepface" / "identities"
CANVAS = (640, 480)  # width, height in pixels


def compose(photo_rgb: np.ndarray, fit_px: int = 400) -> np.ndarray:
    """The photo scaled to fit ``fit_px`` (never enlarged) in the middle of a grey 640x480 frame."""
    h, w = photo_rgb.shape[:2]
    scale = min(1.0, fit_px / max(h, w))
    img = cv2.resize(photo_rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
        if scale < 1 else photo_rgb
    frame = np.full((CANVAS[1], CANVAS[0], 3), 110, np.uint8)
    y, x = (CANVAS[1] - img.shape[0]) // 2, (CANVAS[0] - img.shape[1]) // 2
    frame[y:y + img.shape[0], x:x + img.shape[1]] = img
    return frame


def people(min_photos: int) -> list[tuple[str, list[Path]]]:
    """LFW people in the folder with at least ``min_photos`` photos, by name."""
    out = []
    for d in sorted(LFW.iterdir()):
        photos = sorted(d.glob("*.jpg"))
        if len(photos) >= min_photos:
            out.append((d.name, photos))
    return out


def embed_all(paths: list[Path], cache: Path) -> dict[str, tuple[np.ndarray, float]]:
    """path → (embedding, quality) of the largest face of its composed frame (cached)."""
    known: dict[str, tuple[np.ndarray, float]] = {}
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        known = {p: (v, float(q)) for p, v, q in zip(z["paths"].tolist(), z["vectors"], z["quality"], strict=True)}
    todo = [p for p in paths if str(p) not in known]
    if todo:
        engine = create_engine("dlib", DetectConfig())
        for i, p in enumerate(todo):
            frame = compose(load_image(p))
            det = engine.detector.detect(frame)
            if len(det) == 0:
                known[str(p)] = (np.full(128, np.nan), 0.0)
                continue
            det = det.select(np.array([int(np.argmax(det.sizes))]))
            grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            q = frame_qualities(grey, det)[0].value
            known[str(p)] = (engine.embedder.embed(frame, det).vectors[0], q)
            if i % 25 == 0:
                print(f"  embedded {i + 1}/{len(todo)}", file=sys.stderr)
        keys = sorted(known)
        np.savez(cache, paths=np.array(keys), vectors=np.stack([known[k][0] for k in keys]),
                 quality=np.array([known[k][1] for k in keys]))
    return known

#: dlib's ResNet threshold, the matching default
MAX_DISTANCE = 0.6


def _named_online(os: list[Observation], names: tuple[str, ...], ds: TrackingConfig, want: str | None) -> bool:
    """Whether the track gets a name (``want``, or anyone's) as the pipeline decides: after each face, once."""
    for k in range(1, len(os) + 1):
        d = decide_track(os[:k], names, ds, MAX_DISTANCE)
        if d.is_known:
            return want is None or d.person == want
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--household", type=int, default=40, help="LFW people enrolled (with >= 4 photos)")
    ap.add_argument("--strangers", type=int, default=60, help="other LFW people as strangers (3 photos each)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/facecam-calibrate.npz"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    rich = people(4)[: args.household]
    house_names = {n for n, _ in rich}
    others = [(n, ph[:3]) for n, ph in people(3) if n not in house_names][: args.strangers]
    # deepface_id01 is Angelina Jolie, who is also in LFW (and in this household): not a stranger
    deep = [(d.name, sorted(d.glob("*.jpg"))) for d in sorted(DEEPFACE.iterdir()) if d.name != "deepface_id01"]
    paths = [p for _, ph in rich for p in ph[:5]] + [p for _, ph in others + deep for p in ph]
    emb = embed_all(paths, args.cache)

    def ok(p: Path) -> bool:
        return bool(np.isfinite(emb[str(p)][0]).all())

    names = tuple(n for n, ph in rich if ok(ph[0]))
    gallery = np.stack([emb[str(ph[0])][0] for n, ph in rich if n in names])
    genuine = [(n, [p for p in ph[1:5] if ok(p)]) for n, ph in rich if n in names]
    strangers = [(n, [p for p in ph if ok(p)]) for n, ph in others + deep]

    def obs(p: Path) -> Observation:
        v, q = emb[str(p)]
        return Observation(min(max(q, 0.0), 1.0), pairwise_distances(v[None], gallery)[0])

    s_obs = [(n, [obs(p) for p in ph]) for n, ph in strangers if ph]
    g_obs = [(n, [obs(p) for p in ph]) for n, ph in genuine if ph]
    frames = [o for _, os in s_obs for o in os]
    fa = sum(float(o.distances.min()) <= 0.6 for o in frames)
    print(f"household {len(names)} people; strangers {len(s_obs)} tracks, {len(frames)} frames; "
          f"genuine {len(g_obs)} tracks, {sum(len(os) for _, os in g_obs)} frames")
    print(f"single-frame false accepts at 0.6: {fa} of {len(frames)} ({100 * fa / max(len(frames), 1):.1f}%)")
    gd = [float(o.distances[names.index(n)]) for n, os in g_obs for o in os]
    gm = []
    for n, os in g_obs:
        j = names.index(n)
        for o in os:
            others_d = np.delete(o.distances, j)
            gm.append(float(others_d.min() - o.distances[j]))
    print(f"genuine frames: distance to own photo median {np.median(gd):.3f}, 95th pct {np.percentile(gd, 95):.3f},"
          f" within 0.6: {np.mean(np.array(gd) <= 0.6):.1%}; margin over second person: 5th pct "
          f"{np.percentile(gm, 5):.3f}, median {np.median(gm):.3f}")
    sd = np.array([float(o.distances.min()) for o in frames])
    print(f"stranger frames: nearest household distance 1st pct {np.percentile(sd, 1):.3f}, "
          f"5th pct {np.percentile(sd, 5):.3f}, median {np.median(sd):.3f}")
    qs = np.array([o.quality for o in frames] + [o.quality for _, os in g_obs for o in os])
    print(f"quality of photo frames: 5th pct {np.percentile(qs, 5):.2f}, median {np.median(qs):.2f}")
    # same-person distances between a person's own photos (link_max_distance, negative radius)
    same = [float(pairwise_distances(emb[str(a)][0][None], emb[str(b)][0][None])[0, 0])
            for _, ph in strangers for a, b in itertools.combinations(ph, 2)]
    print(f"same person, two photos: median {np.median(same):.3f}, 90th pct {np.percentile(same, 90):.3f}")

    # track level: quality-weighted mean distance to the own person (genuine) / the nearest person (strangers)
    gmean = [float(weighted_distances(os, len(names))[names.index(n)]) for n, os in g_obs if len(os) >= 2]
    smean = [float(weighted_distances(os, len(names)).min()) for _, os in s_obs if len(os) >= 2]
    print(f"track means: genuine 95th pct {np.percentile(gmean, 95):.3f}, largest {max(gmean):.3f}; "
          f"strangers smallest {min(smean):.3f}, 5th pct {np.percentile(smean, 5):.3f}")

    print("\nmin_votes min_margin track_max_distance | stranger tracks named | genuine tracks named "
          "(of those with >= min_votes photos)")
    for votes, margin, track_max in itertools.product((1, 2, 3), (0.0, 0.06, 0.1), (0.6, 0.56, 0.53)):
        ds = TrackingConfig(min_votes=votes, min_margin=margin, track_max_distance=track_max,
                            min_weight=0.5 * votes)
        sfa = sum(_named_online(os, names, ds, None) for _, os in s_obs)
        eligible = [(n, os) for n, os in g_obs if len(os) >= votes]
        gacc = sum(_named_online(os, names, ds, n) for n, os in eligible)
        print(f"{votes:9d} {margin:10.2f} {track_max:18.2f} | {sfa:21d} | {gacc} of {len(eligible)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
