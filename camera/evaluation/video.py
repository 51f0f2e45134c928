"""``evaluate video``: a clip and its expected visits → event precision, recall, time to first alert.

The clip runs through the real pipeline (:func:`camera.app.build_pipeline`:
motion gating, tracking, per-track decisions, events) once per engine, with
the people of ``--gallery DIR/NAME/*`` enrolled into a fresh data directory.

The expected file is CSV with a header ``person,start_s,end_s``: one row per
continuous appearance (seconds of the clip's own clock). ``unknown`` rows are
appearances of people who are not enrolled.

Scoring (:func:`score_alerts`, pure): every "arrived" or "recognised" alert
is a detection at its clip time. It is a true positive when it names the
person of an appearance not yet matched whose window
``[start_s - tolerance_s, end_s + tolerance_s]`` holds its time (earliest
appearance first); otherwise a false positive. Precision = TP / alerts,
recall = matched appearances / appearances; time to first correct alert is
the alert's time minus the appearance's start, in seconds.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from camera.alerts.sinks.memory import MemorySink
from camera.app import build_pipeline, engines_for
from camera.config import Config
from camera.errors import FacecamError
from camera.evaluation.extract import split_engine
from camera.evaluation.report import Report, pct
from camera.gallery.enroll import enroll_from_dir
from camera.gallery.store import Gallery

log = logging.getLogger(__name__)

ALERT_KINDS = ("arrived", "recognised")


@dataclass(frozen=True)
class Appearance:
    """One expected continuous appearance, in seconds of the clip."""

    person: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Detection:
    """One alert the pipeline raised: who, and when on the clip's clock (seconds)."""

    person: str
    time_s: float
    kind: str = "arrived"


@dataclass(frozen=True)
class VideoScore:
    """Event-level scores for one engine (``None`` where a ratio has no denominator)."""

    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    time_to_first_s: tuple[float, ...]
    mean_time_to_first_s: float | None
    matches: tuple[tuple[int, int], ...]  # (detection index, appearance index)


@dataclass
class VideoEngineResult:
    """One engine's run over the clip."""

    engine: str
    score: VideoScore
    detections: list[Detection]
    frames: int
    wall_s: float
    fps: float


@dataclass
class VideoResult:
    """Every engine's run, with the inputs."""

    clip: str
    expected: list[Appearance]
    tolerance_s: float
    engines: list[VideoEngineResult] = field(default_factory=list)


def load_expected(path: Path) -> list[Appearance]:
    """Read ``person,start_s,end_s`` rows; FacecamError names a bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FacecamError(f"{path}: cannot read the expected visits ({exc.strerror or exc})") from exc
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"person", "start_s", "end_s"} <= set(rows[0]):
        raise FacecamError(f"{path}: expected a CSV header person,start_s,end_s")
    out = []
    for i, row in enumerate(rows, start=2):
        try:
            a = Appearance(row["person"].strip(), float(row["start_s"]), float(row["end_s"]))
        except (TypeError, ValueError) as exc:
            raise FacecamError(f"{path}:{i}: start_s and end_s must be numbers") from exc
        if not a.person or a.end_s < a.start_s:
            raise FacecamError(f"{path}:{i}: needs a person and end_s >= start_s")
        out.append(a)
    return out


def score_alerts(detections: list[Detection], expected: list[Appearance], tolerance_s: float = 1.0) -> VideoScore:
    """Match detections to appearances (see the module docstring); pure."""
    used: set[int] = set()
    matches: list[tuple[int, int]] = []
    for di, d in sorted(enumerate(detections), key=lambda x: x[1].time_s):
        for ai, a in sorted(enumerate(expected), key=lambda x: x[1].start_s):
            if ai in used or a.person != d.person:
                continue
            if a.start_s - tolerance_s <= d.time_s <= a.end_s + tolerance_s:
                used.add(ai)
                matches.append((di, ai))
                break
    tp = len(matches)
    fp = len(detections) - tp
    fn = len(expected) - tp
    ttf = tuple(max(0.0, detections[di].time_s - expected[ai].start_s) for di, ai in matches)
    return VideoScore(tp, fp, fn, tp / len(detections) if detections else None,
                      tp / len(expected) if expected else None, ttf,
                      sum(ttf) / len(ttf) if ttf else None, tuple(sorted(matches)))


def run_clip(engine: str, clip: Path, gallery: Path, detector: str | None = None) -> tuple[list[Detection], int, float]:
    """Enrol ``gallery`` into a fresh data dir and run ``clip`` through the pipeline with ``engine``.

    Returns the detections (alerts of kind arrived/recognised), the frames
    read and the loop's wall seconds.
    """
    base, embedder, precision = split_engine(engine)
    engine_cfg: dict[str, object] = {"name": base, "precision": precision}
    if embedder:
        if not os.environ.get("FACECAM_MODEL_DIR"):
            raise FacecamError(f"--engine {engine}: give --model-dir, the folder whose models.toml names {embedder!r}")
        engine_cfg["embedder"] = embedder
    if detector:
        engine_cfg["detector"] = detector
    cfg = Config.model_validate({"engine": engine_cfg, "cameras": {"eval": {"source": str(clip)}}})
    with tempfile.TemporaryDirectory(prefix="facecam-eval-video-") as tmp:
        root = Path(tmp)
        with Gallery(root) as g:
            engines = engines_for(root)
            outcomes = enroll_from_dir(g, engines.enrolment(cfg.engine), gallery)
            skipped = [o for o in outcomes if not o.ok]
            for o in skipped:
                log.warning("gallery photo skipped: %s", o.reason)
            seen = MemorySink()
            pipeline = build_pipeline(cfg, root, g, sinks=[seen], engines=engines)
            t = time.monotonic()
            summary = pipeline.run()
            wall = time.monotonic() - t
    dets = [Detection(a.person, float("nan") if a.context.video_time_s is None else a.context.video_time_s,
                      a.kind.value) for a in seen.alerts if a.kind in ALERT_KINDS]
    return dets, summary.cameras["eval"].frames, wall


def evaluate_video(clip: Path, expected_file: Path, gallery: Path, engines: tuple[str, ...],
                   tolerance_s: float = 1.0, detectors: dict[str, str] | None = None) -> VideoResult:
    """Run and score ``clip`` for each engine."""
    if not Path(clip).is_file():
        raise FacecamError(f"{clip}: no such video file")
    if not Path(gallery).is_dir():
        raise FacecamError(f"{gallery}: not a folder; expected DIR/NAME/*.jpg")
    expected = load_expected(expected_file)
    result = VideoResult(str(clip), expected, tolerance_s)
    for engine in engines:
        models = detectors or {}
        dets, frames, wall = run_clip(engine, Path(clip), Path(gallery),
                                      models.get(engine, models.get(split_engine(engine)[0])))
        result.engines.append(VideoEngineResult(engine, score_alerts(dets, expected, tolerance_s), dets, frames,
                                                wall, frames / wall if wall > 0 else 0.0))
    return result


def video_report(result: VideoResult):
    """The Markdown/HTML report for ``evaluate video``."""
    rep = Report(f"Video events: {result.clip}")
    rep.para(f"{len(result.expected)} expected appearances; an alert counts when it names the right person "
             f"within {result.tolerance_s:g} s of an appearance's window.")
    rep.table(["engine", "precision", "recall", "TP", "FP", "FN", "mean time to first alert (s)", "fps"],
              [[e.engine, pct(e.score.precision), pct(e.score.recall), e.score.tp, e.score.fp, e.score.fn,
                "-" if e.score.mean_time_to_first_s is None else f"{e.score.mean_time_to_first_s:.2f}",
                f"{e.fps:.1f}"] for e in result.engines])
    rep.heading("Expected appearances")
    rep.table(["person", "start s", "end s"], [[a.person, f"{a.start_s:.2f}", f"{a.end_s:.2f}"]
                                               for a in result.expected])
    for e in result.engines:
        rep.heading(f"{e.engine}: alerts")
        matched = {di: ai for di, ai in e.score.matches}
        rep.table(["time s", "kind", "person", "matches appearance"],
                  [[f"{d.time_s:.2f}", d.kind, d.person, str(matched[i] + 1) if i in matched else "no (false alert)"]
                   for i, d in enumerate(e.detections)])
    return rep
