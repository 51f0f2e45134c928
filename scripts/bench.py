#!/usr/bin/env python3
"""Benchmark: the face_recognition library's own loop against facecam's engines, on the same clip.

    .venv/bin/python scripts/bench.py [--source CLIP] [--engines dlib,onnx] [--json FILE]

Each run happens in its own process (so peak RSS is that run's own), on every
frame of the clip, with the same people enrolled (by default the hamilton
clip with lin_manuel_miranda and alex_lacamoire from ../shared/data):

- ``face_recognition_loop``: face_recognition's ``facerec_from_video_file``
  example: ``face_locations`` (HOG, upsample 1, full frame) and
  ``face_encodings`` on every frame, ``compare_faces`` at 0.6.
- ``dlib`` / ``onnx``: ``facecam run`` through the real pipeline
  (:func:`camera.app.build_pipeline`) with that engine, its configured
  detector settings (shown in the table), timings taken around the engine's
  ``detect`` and ``embed`` calls; then, in the same process, the engine's
  ``embed`` on the very faces the loop embedded (its boxes, frame by frame,
  all of a frame's faces in one call, as the loop's ``face_encodings`` does).

Figures: ``fps`` (frames / wall seconds of the loop, model loading
excluded), ``detect_ms_per_frame`` (detector time / frames it ran on),
``embed_ms_per_face`` (landmarks + chip + descriptor per face, on the loop's
faces: the median over frames of the call's time / its faces, so a one-off
stall does not count as a per-face cost; ``embed_ms_per_face_mean`` is total
time / faces), ``faces`` (faces that figure is over). The same faces for
every run make the per-face figures comparable: facecam's pipeline embeds
far fewer faces than the loop (its motion gate and tracker skip most frames,
14 or so on the hamilton clip), too few for a steady median, and while the
clip decodes beside it; those figures are kept as
``pipeline_embed_ms_per_face`` (median over the pipeline's embedding calls,
``pipeline_embed_ms_per_face_mean``) and ``pipeline_faces``. Without the
loop (``--skip-loop``) ``embed_ms_per_face`` is the pipeline's figure
(``embed_faces`` says which). ``peak_rss_mb`` (maximum resident set of the
process: for facecam, of a separate ``facecam run`` on the same clip and
gallery, so the benchmark's own instrumentation is not counted), ``named``
(people named at least once).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ageitgey+face_recognition"
#: Detect + embed calls on the first frame before timing starts, for every engine alike.
WARMUP_ROUNDS = 3
DEFAULT_CLIP = DATA / "video" / "short_hamilton_clip.mp4"
DEFAULT_PEOPLE = [DATA / "identities" / "lin_manuel_miranda", DATA / "identities" / "alex_lacamoire"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_face_recognition_loop(clip: Path, people: list[Path]) -> dict:
    """face_recognition's facerec_from_video_file loop, timed per stage."""
    import cv2
    import face_recognition
    import numpy as np

    names, known = [], []
    for folder in people:
        for photo in sorted(folder.iterdir()):
            enc = face_recognition.face_encodings(face_recognition.load_image_file(str(photo)))
            if enc:
                names.append(folder.name)
                known.append(enc[0])
    cap = cv2.VideoCapture(str(clip))
    frames = faces = 0
    detect_s = embed_s = 0.0
    per_face: list[float] = []
    boxes: dict[int, list] = {}  # frame number -> the (top, right, bottom, left) boxes it embedded
    named: set[str] = set()
    t0 = time.perf_counter()
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        # the example's `frame[:, :, ::-1]` view is refused by current dlib (face_recognition
        # issues 1497/1582); a contiguous copy is what it needs now
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        frames += 1
        t = time.perf_counter()
        locations = face_recognition.face_locations(rgb)
        detect_s += time.perf_counter() - t
        t = time.perf_counter()
        encodings = face_recognition.face_encodings(rgb, locations)
        embed_s += time.perf_counter() - t
        if encodings:
            per_face.append((time.perf_counter() - t) / len(encodings))
            boxes[frames - 1] = [list(map(int, b)) for b in locations]
        faces += len(encodings)
        for enc in encodings:
            hits = face_recognition.compare_faces(known, enc, tolerance=0.6)
            if True in hits:
                named.add(names[hits.index(True)])
    wall = time.perf_counter() - t0
    return {"fps": frames / wall, "frames": frames, "detect_ms_per_frame": 1000 * detect_s / max(frames, 1),
            "embed_ms_per_face": _median_ms(per_face), "embed_ms_per_face_mean": 1000 * embed_s / max(faces, 1),
            "faces": faces, "peak_rss_mb": _peak_rss_mb(),
            "named": sorted(named), "settings": "hog, upsample 1, full frame, every frame", "boxes": boxes}


def embed_same_faces(engines: list[str], clip: Path, boxes: dict[int, list], detector: str | None,
                     upsample: int | None) -> dict[str, dict]:
    """Time each engine's ``embed`` on the faces the face_recognition loop embedded: the same
    frames, the same boxes, all of a frame's faces in one call (batched as in the loop).

    The engines take turns frame by frame (which one goes first alternates), so a
    change in the machine's speed during the pass falls on all of them alike.
    Returns, per engine, ``embed_ms_per_face`` (median over frames of the call's
    time / its faces), ``embed_ms_per_face_mean`` and ``faces``.
    """
    import cv2
    import numpy as np

    from camera import app
    from camera.config import Config
    from camera.types import Detections

    embedders = {}
    for name in engines:
        cfg = Config.model_validate({"engine": {"name": name, **({"detector": detector} if detector else {}),
                                                **({"upsample": upsample} if upsample is not None else {})}})
        embedders[name] = app.engines_for(app.data_dir(cfg)).get(cfg.engine).embedder
    per_face: dict[str, list[float]] = {n: [] for n in engines}
    total = dict.fromkeys(engines, 0.0)
    faces = index = 0
    cap = cv2.VideoCapture(str(clip))
    warm = False
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        trbl = boxes.get(index)
        index += 1
        if not trbl:
            continue
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        dets = Detections.from_trbl([tuple(b) for b in trbl])
        if not warm:  # model loading and first runs, for every engine alike
            for _ in range(WARMUP_ROUNDS):
                for e in embedders.values():
                    e.embed(rgb, dets)
            warm = True
        order = engines if faces % 2 == 0 else engines[::-1]
        for name in order:
            t = time.perf_counter()
            out = embedders[name].embed(rgb, dets)
            dt = time.perf_counter() - t
            if len(out) != len(trbl):
                raise RuntimeError(f"{name}, frame {index - 1}: {len(out)} descriptors for {len(trbl)} boxes")
            per_face[name].append(dt / len(trbl))
            total[name] += dt
        faces += len(trbl)
    cap.release()
    return {n: {"embed_ms_per_face": _median_ms(per_face[n]), "embed_ms_per_face_mean": 1000 * total[n] / max(faces, 1),
                "faces": faces} for n in engines}


class _Timed:
    """Wraps a detector or embedder and adds up the seconds spent in it."""

    def __init__(self, inner, method: str) -> None:
        self._inner, self._method = inner, method
        self.seconds, self.calls, self.items = 0.0, 0, 0
        self.per_item: list[float] = []  # each call's seconds / its items (calls with items only)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _call(self, *args):
        t = time.perf_counter()
        out = getattr(self._inner, self._method)(*args)
        dt = time.perf_counter() - t
        self.seconds += dt
        self.calls += 1
        self.items += len(out)
        if len(out):
            self.per_item.append(dt / len(out))
        return out

    def detect(self, rgb):
        return self._call(rgb)

    def embed(self, rgb, detections):
        return self._call(rgb, detections)


def run_facecam(engine: str, clip: Path, root: Path, detector: str | None, upsample: int | None) -> dict:
    """``facecam run`` on the clip with ``engine`` through the real pipeline, on the gallery in ``root``."""
    import cv2
    import numpy as np

    import camera.app as app
    from camera.alerts.sinks.memory import MemorySink
    from camera.config import Config
    from camera.engine import Engine
    from camera.gallery.store import Gallery

    timers: list[tuple[_Timed, _Timed]] = []

    class TimedEngines(app.Engines):
        """The pipeline's own engines, each call timed (measured inside the real pipeline, unchanged)."""

        def get(self, cfg):
            e = super().get(cfg)
            pair = (_Timed(e.detector, "detect"), _Timed(e.embedder, "embed"))
            timers.append(pair)
            return Engine(e.name, pair[0], pair[1])

    engine_cfg = {"name": engine, **({"detector": detector} if detector else {}),
                  **({"upsample": upsample} if upsample is not None else {})}
    cfg = Config.model_validate({"engine": engine_cfg, "cameras": {"bench": {"source": str(clip)}},
                                 "alerts": {"cooldown_s": 30}})
    with Gallery(root) as gallery:
        seen = MemorySink()
        pipeline = app.build_pipeline(cfg, root, gallery, sinks=[seen], engines=TimedEngines(app.model_dir(root)))
        timers = timers[-1:]  # the camera's engine (the first was enrolment's, for the gallery check)
        cap = cv2.VideoCapture(str(clip))
        _, bgr = cap.read()
        cap.release()
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        for d, e in timers:  # first calls load models and plan memory: warm up, then count from zero
            # (onnxruntime's second run of a session still costs ~50 ms, ~15x a steady one: three rounds)
            for _ in range(WARMUP_ROUNDS):
                e.embed(rgb, d.detect(rgb))
            d.seconds = e.seconds = 0.0
            d.calls = e.calls = d.items = e.items = 0
            d.per_item, e.per_item = [], []
        summary = pipeline.run()
    st = summary.cameras["bench"]
    det = sum(d.seconds for d, _ in timers)
    det_calls = sum(d.calls for d, _ in timers)
    emb = sum(e.seconds for _, e in timers)
    faces = sum(e.items for _, e in timers)
    ec = cfg.engine.resolved(app.model_dir(root))  # the detector that ran (YuNet where it is installed)
    pipeline_embed = {"embed_ms_per_face": _median_ms([x for _, e in timers for x in e.per_item]),
                      "embed_ms_per_face_mean": 1000 * emb / max(faces, 1), "faces": faces}
    result = {"fps": st.frames / summary.wall_s, "frames": st.frames,
              "detect_ms_per_frame": 1000 * det / max(det_calls, 1), "detect_calls": det_calls,
              **{f"pipeline_{k}": v for k, v in pipeline_embed.items()},
              "named": sorted({a.person for a in seen.alerts if a.person != "unknown"}),
              "settings": f"{ec.detector_name}, upsample {ec.upsample_times}, "
                          f"detect width <= {ec.detect_config().detect_max_width}"}
    # the main figures until embed_same_faces replaces them (it does whenever the loop ran)
    result.update(pipeline_embed, embed_faces="pipeline")
    return result


def _median_ms(seconds: list[float]) -> float:
    """Median of ``seconds`` in milliseconds (``nan`` for none)."""
    import statistics

    return 1000 * statistics.median(seconds) if seconds else float("nan")


def facecam_run_rss_mb(engine: str, clip: Path, root: Path, detector: str | None, upsample: int | None) -> float:
    """Peak RSS (MB) of a plain ``facecam run`` process on the clip (spawned from this small process)."""
    args = [sys.executable, "-m", "camera", "run", "--data-dir", str(root), "--engine", engine, "--source", str(clip)]
    args += (["--detector", detector] if detector else []) + (["--upsample", str(upsample)] if upsample is not None
                                                              else [])
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise RuntimeError(f"{' '.join(args)} failed with status {status}")
    return usage.ru_maxrss / 1024.0


def enrol(engine: str, root: Path, people: list[Path]) -> None:
    """Enrol each folder NAME/ of ``people`` into ``root`` with ``facecam enroll``."""
    for folder in people:
        subprocess.run([sys.executable, "-m", "camera", "enroll", "--data-dir", str(root), "--engine", engine,
                        folder.name, *map(str, sorted(folder.iterdir()))], check=True, capture_output=True, cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=DEFAULT_CLIP, help="video clip (default: the hamilton clip)")
    p.add_argument("--people", type=Path, nargs="*", default=DEFAULT_PEOPLE, help="folders NAME/ of photos")
    p.add_argument("--engines", default="dlib,onnx", help="facecam engines to run (comma-separated)")
    p.add_argument("--detector", help="detector for the facecam runs (default: each engine's config default)")
    p.add_argument("--upsample", type=int, help="upsampling for the facecam runs")
    p.add_argument("--skip-loop", action="store_true", help="do not run the face_recognition loop")
    p.add_argument("--json", type=Path, help="write {'runs': {NAME: {...}}} here")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one benchmark in this process
    p.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)  # internal: the prepared gallery
    p.add_argument("--boxes", type=Path, help=argparse.SUPPRESS)  # internal: the loop's faces (JSON)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    if args.one:
        if args.one == "face_recognition_loop":
            result = run_face_recognition_loop(args.source, args.people)
        elif args.one == "same_faces":
            boxes = {int(k): v for k, v in json.loads(args.boxes.read_text()).items()}
            result = embed_same_faces(args.engines.split(","), args.source, boxes, args.detector, args.upsample)
        else:
            result = run_facecam(args.one, args.source, args.data_dir, args.detector, args.upsample)
        print(json.dumps(result))
        return 0

    names = ([] if args.skip_loop else ["face_recognition_loop"]) + [e for e in args.engines.split(",") if e]
    runs: dict[str, dict] = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="facecam-bench-") as tmp:
            cmd = [sys.executable, __file__, "--one", name, "--source", str(args.source), "--people",
                   *map(str, args.people)]
            if name != "face_recognition_loop":
                enrol(name, Path(tmp), args.people)
                cmd += ["--data-dir", tmp]
                if args.detector:
                    cmd += ["--detector", args.detector]
                if args.upsample is not None:
                    cmd += ["--upsample", str(args.upsample)]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:
                print(f"{name} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
                return 1
            runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
            if name != "face_recognition_loop":
                runs[name]["peak_rss_mb"] = facecam_run_rss_mb(name, args.source, Path(tmp), args.detector,
                                                               args.upsample)

    base = runs.get("face_recognition_loop")
    engines = [n for n in runs if n != "face_recognition_loop"]
    if base and engines:
        print("embedding the loop's faces with each engine in turn ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="facecam-bench-") as tmp:
            box_file = Path(tmp) / "boxes.json"
            box_file.write_text(json.dumps(base["boxes"]))
            cmd = [sys.executable, __file__, "--one", "same_faces", "--engines", ",".join(engines),
                   "--source", str(args.source), "--boxes", str(box_file)]
            cmd += (["--detector", args.detector] if args.detector else []) + (
                ["--upsample", str(args.upsample)] if args.upsample is not None else [])
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:
                print(f"same_faces failed:\n{done.stderr[-3000:]}", file=sys.stderr)
                return 1
            for name, figures in json.loads(done.stdout.strip().splitlines()[-1]).items():
                runs[name].update(figures, embed_faces="loop")
        base["embed_faces"] = "loop"
    print(TABLE_HEADER)
    print("|" + "---|" * TABLE_HEADER.count(" | ") + "---|")
    for name, r in runs.items():
        print(table_row(name, r, base))
    dlib_face = runs.get("dlib", {}).get("embed_ms_per_face")
    onnx_face = runs.get("onnx", {}).get("embed_ms_per_face")
    if dlib_face and onnx_face and runs["dlib"]["embed_faces"] == runs["onnx"]["embed_faces"]:
        print(f"\nper face (landmarks + chip + descriptor, the same {runs['onnx']['faces']} faces): "
              f"dlib {dlib_face:.1f} ms, onnx {onnx_face:.2f} ms = {dlib_face / onnx_face:.1f}x less with onnx")
    if args.json:
        args.json.write_text(json.dumps({"source": str(args.source), "runs": runs}, indent=2))
    return 0


TABLE_HEADER = ("| run | fps | x loop | detect ms/frame | embed ms/face | x loop | faces | pipeline embed ms/face "
                "| pipeline faces | peak RSS MB | named | detector |")


def table_row(name: str, r: dict, base: dict | None) -> str:
    """One markdown row; ``x loop`` columns are ratios to the face_recognition loop (``-`` without it)."""
    fps_x = f"{r['fps'] / base['fps']:.1f}x" if base else "-"
    same = base and r["embed_faces"] == "loop"
    face_x = f"{base['embed_ms_per_face'] / r['embed_ms_per_face']:.1f}x" if same else "-"
    pipe = (f"{r['pipeline_embed_ms_per_face']:.1f} | {r['pipeline_faces']}" if "pipeline_faces" in r else "- | -")
    return (f"| {name} | {r['fps']:.1f} | {fps_x} | {r['detect_ms_per_frame']:.1f} | {r['embed_ms_per_face']:.1f} "
            f"| {face_x} | {r['faces']} | {pipe} | {r['peak_rss_mb']:.0f} | {', '.join(r['named']) or '-'} "
            f"| {r['settings']} |")


if __name__ == "__main__":
    sys.exit(main())
