"""Photo → one face embedding, for many photos, with a cache and a process pool.

For each photo: read the bytes (sha256 for the cache), decode, detect, pick
one face by :class:`FacePolicy`, embed it. Failures never stop a run: each
photo comes back as a :class:`FaceResult` whose ``status`` says what
happened:

* ``detected`` — the detector found a face at the configured settings;
* ``whole_image`` — policy ``whole``: the whole image was embedded, no detection;
* ``upsampled`` — found only when detection was retried with one more
  upsampling step (``FacePolicy.fallback_upsample``);
* ``center_box`` — no face found at all, so the fixed central box
  (``FacePolicy.fallback_box``) was embedded, as suits aligned crops like LFW;
* ``no_face`` — no face and no fallback left: no vector;
* ``missing`` / ``unreadable`` — the file is absent or not a decodable image.

Work runs in a pool of ``workers`` processes (spawned, one engine each) when
more than a handful of photos miss the cache. dlib's detector and ResNet are
single-threaded, and onnxruntime gains little from a second intra-op thread
on these small inputs, so processes are what uses both cores; each worker is
pinned to one core so the onnx engine runs one onnxruntime thread per worker
(see :func:`_init_worker`). Measured on 2 shared cores (load ~2.5): dlib, 160
ATT photos, 19.3 s with 1 worker vs 15.1 s with 2; onnx, 498 LFW photos,
74.2 s vs 66.3 s; onnx at upsample 0, all 4,992 LFW View 1 photos, 242 s on
2 pinned workers (58 ms of CPU a photo). Spawning costs a few seconds, so small jobs stay
in-process. Stage times are seconds of wall time inside the worker;
``decode`` includes reading the file.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from camera.detect.config import DetectConfig
from camera.engine import Engine, create_engine
from camera.errors import FacecamError, InvalidImage
from camera.evaluation.cache import CachedFace, EmbeddingCache, cache_key
from camera.evaluation.views import check_views, embed_views
from camera.imageio import decode_image, read_bytes, sha256_bytes
from camera.types import Detections
from models.convert import default_cache_dir

log = logging.getLogger(__name__)

__all__ = ["INT8_SUFFIX", "ExtractStats", "FacePolicy", "FaceResult", "embed_photos", "get_engine", "pick_face",
           "split_engine"]

#: Below this many uncached photos the work runs in this process (a spawned pool costs seconds).
POOL_MIN_JOBS = 24


@dataclass(frozen=True)
class FacePolicy:
    """Which face to embed and what to do when none is found.

    ``select``: ``largest`` (biggest box), ``central`` (the box whose centre
    is nearest the image centre: for photos framed on one subject, as LFW's
    250x250 crops are centred on the subject's face; a bystander's face may
    be bigger, so size must not decide — on LFW View 1 "biggest box in the
    middle half" picked a bystander in 3 of 249 photos with several faces),
    or ``whole`` (no detection: the whole image is the face box, for photos
    that are already face crops). ``fallback_upsample``: retry detection with
    ``upsample + 1`` (up to 3). ``fallback_box``: then embed a square of side
    ``box_frac * min(H, W)`` pixels centred at ``(W/2, H/2 + box_dy * H)``.
    The defaults of ``box_frac`` / ``box_dy`` are the median dlib HOG box on
    LFW deep-funneled 250x250 photos (108 px square, centre 8 px below
    the middle). ``views``: the face's vector is the mean over this many
    views of its chip (:mod:`camera.evaluation.views`; 1 = the chip alone).
    """

    select: Literal["largest", "central", "whole"] = "largest"
    fallback_upsample: bool = True
    fallback_box: bool = False
    box_frac: float = 0.43
    box_dy: float = 0.034
    views: int = field(default=1, repr=False)  # kept out of repr: see cache_repr

    def __post_init__(self) -> None:

        check_views(self.views)

    def cache_repr(self) -> str:
        """What the embedding cache keys on (``views`` only when not 1, so older entries stay valid)."""
        return repr(self) + (f"|views={self.views}" if self.views != 1 else "")

    def describe(self) -> str:
        """One sentence for reports."""
        if self.select == "whole":
            return "no detection: the whole image is embedded as the face box."
        steps = ["detect at the configured settings"]
        if self.fallback_upsample:
            steps.append("retry with one more upsampling step")
        if self.fallback_box:
            steps.append(f"embed a central square box ({self.box_frac:.2f} x the shorter side, "
                         f"centre {self.box_dy:+.3f} x height from the middle)")
        steps.append("count the photo as 'no face' (no embedding)")
        views = "" if self.views == 1 else (f" Each vector is the mean over {self.views} views of the face's chip "
                                            "(itself, its mirror image and small shifts/zooms/rotations).")
        return f"face choice '{self.select}'; when no face is found: " + ", then ".join(steps) + "." + views


@dataclass(frozen=True)
class FaceResult:
    """One photo's outcome. ``vector`` (d,) float64 or ``None``; ``box_xyxy`` pixels or ``None``;
    ``n_faces`` the detector found; stage times in seconds; ``cached`` if it came from the cache."""

    path: str
    status: str
    detail: str
    vector: np.ndarray | None
    box_xyxy: tuple[float, float, float, float] | None
    n_faces: int
    decode_s: float = 0.0
    detect_s: float = 0.0
    embed_s: float = 0.0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.vector is not None


@dataclass(frozen=True)
class ExtractStats:
    """What one engine's extraction cost. Times in seconds; ``*_s`` sums are over
    the photos computed now (not the cached ones); ``wall_s`` covers everything."""

    engine: str
    model_id: str
    n_photos: int
    cache_hits: int
    computed: int
    workers: int
    wall_s: float
    decode_s: float
    detect_s: float
    embed_s: float
    by_status: dict[str, int]


def pick_face(det: Detections, width: int, height: int, select: str) -> int:
    """Index of the detection to embed (see :class:`FacePolicy`); ``det`` must be non-empty."""
    wh = det.xyxy[:, 2:] - det.xyxy[:, :2]
    area = wh[:, 0] * wh[:, 1]
    if select == "largest":
        return int(np.argmax(area))
    centre = (det.xyxy[:, :2] + det.xyxy[:, 2:]) / 2
    off = centre - np.array([width / 2, height / 2])
    return int(np.argmin(np.hypot(off[:, 0], off[:, 1])))  # ties: the first, i.e. the highest score


# ---- worker side ---------------------------------------------------------------------------

_ENGINES: dict[tuple[str, DetectConfig, Path | None], Engine] = {}
#: An engine name's suffix for its embedder at ``[engine] precision = "int8"`` (``onnx+int8``).
INT8_SUFFIX = "+int8"


def split_engine(name: str) -> tuple[str, str, str]:
    """``"onnx:my_embedder+int8"`` -> ``("onnx", "my_embedder", "int8")``: the engine, the embedder named
    after ``:`` (``""``: the engine's own) and the precision (``+int8``, else ``"fp32"``)."""
    spec = name.removesuffix(INT8_SUFFIX)
    base, _, embedder = spec.partition(":")
    return base, embedder, "int8" if spec != name else "fp32"


def get_engine(name: str, settings: DetectConfig) -> Engine:
    """The engine for ``(name, settings)``, built once per process and then reused.

    ``ENGINE:EMBEDDER`` builds ``ENGINE`` with the user embedder ``EMBEDDER`` of
    ``models.toml`` in ``$FACECAM_MODEL_DIR`` (default: the model cache); ``ENGINE+int8`` runs the
    embedder at precision int8.
    """
    base, embedder, precision = split_engine(name)
    model_dir = None
    if embedder:

        env = os.environ.get("FACECAM_MODEL_DIR")
        model_dir = Path(env).expanduser() if env else default_cache_dir()
    key = (name, settings, model_dir)
    if key not in _ENGINES:
        if embedder:
            _ENGINES[key] = create_engine(base, settings, model_dir, embedder=embedder, precision=precision)
        else:
            _ENGINES[key] = create_engine(base, settings, precision=precision)
    return _ENGINES[key]


def _init_worker(cores: tuple[int, ...], slot) -> None:
    """Pool initializer: one thread per worker. Worker ``k`` is pinned to ``cores[k % len(cores)]``, so
    the onnx engine (which sizes onnxruntime's intra-op pool by the cores it may run on) runs one thread
    instead of one per core in every worker: 2 workers x 2 threads on 2 cores cost ~10 % more CPU time
    per photo than 2 x 1 (onnx, LFW, upsample 0: 67 against 61 ms of CPU a photo)."""
    with slot.get_lock():
        k = slot.value
        slot.value += 1
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cores[k % len(cores)]})
    cv2.setNumThreads(1)


def _run_one(job: tuple[str, str, DetectConfig, FacePolicy]) -> FaceResult:

    path, name, settings, policy = job
    t0 = time.perf_counter()
    try:
        rgb = decode_image(read_bytes(Path(path)), path)
    except InvalidImage as exc:
        return FaceResult(path, "unreadable", str(exc), None, None, 0, time.perf_counter() - t0)
    t1 = time.perf_counter()
    h, w = rgb.shape[:2]
    engine = get_engine(name, settings)
    if policy.select == "whole":
        whole = Detections(np.array([[0, 0, w, h]], np.float32), np.zeros(1, np.float32))
        emb = embed_views(engine.embedder, rgb, whole, policy.views)
        return FaceResult(path, "whole_image", "", np.asarray(emb.vectors[0], np.float64), (0.0, 0.0, w, h), 1,
                          t1 - t0, 0.0, time.perf_counter() - t1)
    det = engine.detector.detect(rgb)
    status = "detected"
    up = settings.upsample or 0
    if len(det) == 0 and policy.fallback_upsample and up < 3:
        det = get_engine(name, settings.model_copy(update={"upsample": up + 1})).detector.detect(rgb)
        status = "upsampled"
    n_faces = len(det)
    if n_faces:
        chosen = det.select(np.array([pick_face(det, w, h, policy.select)]))
    elif policy.fallback_box:
        side = policy.box_frac * min(h, w)
        cx, cy = w / 2, h / 2 + policy.box_dy * h
        box = np.array([[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]], np.float32)
        box[:, [0, 2]] = box[:, [0, 2]].clip(0, w)
        box[:, [1, 3]] = box[:, [1, 3]].clip(0, h)
        chosen, status = Detections(box, np.zeros(1, np.float32)), "center_box"
    else:
        return FaceResult(path, "no_face", "the detector found no face", None, None, 0,
                          t1 - t0, time.perf_counter() - t1)
    t2 = time.perf_counter()
    emb = embed_views(engine.embedder, rgb, chosen, policy.views)
    t3 = time.perf_counter()
    detail = {"upsampled": f"no face at upsample {up}; found at {up + 1}",
              "center_box": "no face found at any upsampling tried; embedded the fixed central box"}.get(status, "")
    if n_faces > 1:
        detail = f"{detail}; " if detail else ""
        detail += f"{n_faces} faces found, embedded one ({policy.select})"
    return FaceResult(path, status, detail, np.asarray(emb.vectors[0], np.float64),
                      tuple(float(v) for v in chosen.xyxy[0]), n_faces, t1 - t0, t2 - t1, t3 - t2)


# ---- main side -----------------------------------------------------------------------------

def embed_photos(paths: list[Path], engine_name: str, settings: DetectConfig, policy: FacePolicy,
                 cache_dir: Path | None, workers: int | None = None,
                 progress: bool | None = None) -> tuple[dict[str, FaceResult], ExtractStats]:
    """Embed one face per photo with one engine; results keyed by ``str(path)``.

    ``cache_dir`` ``None`` disables the cache. ``workers`` defaults to the CPU
    count; ``progress`` ``None`` shows a bar only on a terminal.
    """
    try:
        from tqdm import tqdm  # the evaluation extra: pip install 'facecam[eval]'
    except ImportError as exc:
        raise FacecamError("evaluation needs tqdm and matplotlib: pip install 'facecam[eval]'") from exc
    start = time.perf_counter()
    engine = get_engine(engine_name, settings)
    model_id = engine.embedder.model_id
    unique = list(dict.fromkeys(str(p) for p in paths))
    results: dict[str, FaceResult] = {}
    jobs: list[tuple[str, str, DetectConfig, FacePolicy]] = []
    keys: dict[str, str] = {}
    for p in unique:
        try:
            data = read_bytes(Path(p))
        except InvalidImage as exc:
            kind = "missing" if not Path(p).exists() else "unreadable"
            results[p] = FaceResult(p, kind, str(exc), None, None, 0)
            continue
        keys[p] = cache_key(sha256_bytes(data), engine_name, model_id, repr(settings), policy.cache_repr())
        jobs.append((p, engine_name, settings, policy))  # the worker reads the file again: small pickles
    cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
    try:
        hits = cache.get_many(list(keys.values())) if cache else {}
        todo = []
        for job in jobs:
            c = hits.get(keys[job[0]])
            if c is None:
                todo.append(job)
            else:
                results[job[0]] = FaceResult(job[0], c.status, c.detail, c.vector, c.box_xyxy, c.n_faces,
                                             c.decode_s, c.detect_s, c.embed_s, cached=True)
        n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        if len(todo) < POOL_MIN_JOBS:
            n_workers = 1
        fresh: list[FaceResult] = []
        pending: list[FaceResult] = []

        def done(r: FaceResult) -> None:
            fresh.append(r)
            pending.append(r)
            bar.update()
            if len(pending) >= 64 or len(fresh) == len(todo):  # store as we go: an interrupted run keeps its work
                if cache:
                    cache.put_many([(keys[x.path], CachedFace(x.status, x.detail, x.vector, x.box_xyxy,
                                                              x.n_faces, x.decode_s, x.detect_s, x.embed_s))
                                    for x in pending])
                pending.clear()
                log.debug("%s: %d/%d photos embedded", engine_name, len(fresh), len(todo))

        hide = None if progress is None else not progress  # None: tqdm shows it only on a terminal
        with tqdm(total=len(todo), desc=f"{engine_name}: embedding", unit="photo",
                  disable=True if not todo else hide, leave=False) as bar:
            if n_workers == 1:
                for job in todo:
                    done(_run_one(job))
            else:
                ctx = get_context("spawn")
                cores = tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else ()
                with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(cores, ctx.Value("i", 0))) as pool:
                    for r in pool.map(_run_one, todo, chunksize=4):
                        done(r)
        for r in fresh:
            results[r.path] = r
    finally:
        if cache:
            cache.close()
    stats = ExtractStats(
        engine=engine_name, model_id=model_id, n_photos=len(unique), cache_hits=len(jobs) - len(todo),
        computed=len(fresh), workers=n_workers, wall_s=time.perf_counter() - start,
        decode_s=sum(r.decode_s for r in fresh), detect_s=sum(r.detect_s for r in fresh),
        embed_s=sum(r.embed_s for r in fresh),
        by_status=dict(Counter(r.status for r in results.values())))
    log.info("%s: %d photos, %d from cache, %d computed on %d workers in %.1f s", engine_name,
             stats.n_photos, stats.cache_hits, stats.computed, stats.workers, stats.wall_s)
    return results, stats
