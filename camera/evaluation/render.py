"""Turn each command's result into a :class:`~camera.evaluation.report.Report`.

Tables give every engine side by side; figures are ROC curves, distance
histograms with threshold lines, per-person bars and thumbnails of the
worst errors. Every problem item is listed with how it was counted.
"""

from __future__ import annotations

import numpy as np

from camera.evaluation import plots
from camera.evaluation.calibrate import CalibrateResult, Recommendation
from camera.evaluation.datasets import Problem
from camera.evaluation.detect import DetectResult
from camera.evaluation.extract import ExtractStats, FaceResult
from camera.evaluation.identify import EngineIdentify, IdentifyResult
from camera.evaluation.metrics import roc
from camera.evaluation.pairs import EnginePairs, PairsResult
from camera.evaluation.report import Figure, Report, fmt, pct

__all__ = ["calibrate_report", "detect_report", "identify_report", "pairs_report"]

#: Thumbnails of this many worst errors of each kind.
WORST = 6

STATUSES = ["detected", "whole_image", "upsampled", "center_box", "no_face", "missing", "unreadable"]


def _timing_table(rep: Report, stats: list[ExtractStats]) -> None:
    rep.heading("Timings")
    rep.para("Per-stage times are means over the photos computed in this run (cached photos are "
             "read from the cache and cost nothing); wall time covers reading, hashing, the cache "
             "and the worker pool.")
    rows = []
    for s in stats:
        per = [f"{1000 * t / s.computed:.1f}" if s.computed else "-" for t in (s.decode_s, s.detect_s, s.embed_s)]
        rows.append([s.engine, s.model_id, s.n_photos, s.cache_hits, s.computed, s.workers, f"{s.wall_s:.1f}", *per])
    rep.table(["engine", "model id", "photos", "cache hits", "computed", "workers", "wall s",
               "decode ms/photo", "detect ms/photo", "embed ms/photo"], rows)


def _status_table(rep: Report, by_engine: dict[str, dict[str, int]]) -> None:
    rep.heading("Photos by outcome")
    rep.table(["engine", *STATUSES], [[e, *[c.get(s, 0) for s in STATUSES]] for e, c in by_engine.items()])


def _problems(rep: Report, problems: list[Problem], intro: str) -> None:
    rep.heading("Problems, item by item")
    rep.para(intro)
    if not problems:
        rep.para("None.")
        return
    rep.table(["item", "kind", "detail", "counted as"], [[p.item, p.kind, p.detail, p.counted_as]
                                                         for p in problems])


def _box(photos: dict[str, FaceResult], path: str | None) -> tuple[float, float, float, float] | None:
    r = photos.get(path or "")
    return r.box_xyxy if r else None


def pairs_report(result: PairsResult) -> Report:
    """Verification report: summary, folds, timings, ROC, histograms, worst pairs, problems."""
    rep = Report(f"Verification: {result.test_file}")
    rep.para(f"Protocol: {result.protocol}" + (f", threshold chosen on {result.train_file}"
                                              if result.train_file else "")
             + ". A pair is 'same' when the Euclidean distance between the two embeddings is at or below "
               "the threshold. Pairs with a photo without an embedding have distance inf and are scored "
               "'different'; they stay in the denominator.")
    rep.para(f"Faces: {result.policy} Detector settings: {result.settings}.")
    rep.heading("Summary")
    rep.table(["engine", "accuracy (mean ± std)", "pairs", "threshold", "accuracy at model default",
               "accuracy, both faces found", "pairs without embedding", "AUC", "TAR @ FAR 0.1%",
               "TAR @ FAR 1%", "train accuracy"],
              [[e.engine, f"{pct(e.accuracy_mean, 2)} ± {pct(e.accuracy_std, 2)}", e.pairs, fmt(e.threshold),
                f"{pct(e.accuracy_at_default, 2)} (at {e.default_max_distance:g})",
                pct(e.accuracy_with_both_faces, 2), e.pairs_without_embedding, fmt(e.auc),
                pct(e.tar_at_far.get("0.001")), pct(e.tar_at_far.get("0.01")), pct(e.train_accuracy, 2)]
               for e in result.engines])
    if any(len(e.folds) > 1 for e in result.engines):
        rep.heading("Folds")
        rep.table(["engine", "fold", "threshold (chosen on the other folds)", "accuracy", "pairs"],
                  [[e.engine, f.fold + 1, fmt(f.threshold), pct(f.accuracy, 2), f.n]
                   for e in result.engines for f in e.folds])
    _timing_table(rep, [e.stats for e in result.engines])
    _status_table(rep, {e.engine: e.photo_status for e in result.engines})
    rep.heading("Curves")
    curves = {}
    for e in result.engines:
        test = [s for s in e.scores if s.split == "test"]
        curves[e.engine] = roc(np.array([s.distance for s in test]), np.array([s.same for s in test]))
    rep.figure(Figure("roc", plots.roc_png(curves, "ROC on the scored pairs"), "ROC, all engines"))
    for e in result.engines:
        test = [s for s in e.scores if s.split == "test"]
        d = np.array([s.distance for s in test])
        same = np.array([s.same for s in test], bool)
        lines = {"threshold": e.threshold, "model default": e.default_max_distance}
        rep.figure(Figure(f"hist_{e.engine}", plots.hist_png(d[same], d[~same], lines, f"{e.engine}: distances"),
                          f"{e.engine}: distances of same and different pairs, with the threshold"))
        _worst_pairs(rep, e)
    _problems(rep, result.problems + [p for e in result.engines for p in e.problems],
              "Pairs-file lines that could not be parsed, and every photo that was missing, unreadable, "
              "or had no face found at the configured settings, with what the metrics did with it.")
    return rep


def _worst_pairs(rep: Report, e: EnginePairs) -> None:
    test = [s for s in e.scores if s.split == "test" and not s.correct]
    fr = sorted((s for s in test if s.same), key=lambda s: -s.distance)[:WORST]
    fa = sorted((s for s in test if not s.same), key=lambda s: s.distance)[:WORST]
    rows = [([(s.a, _box(e.photos, s.a)), (s.b, _box(e.photos, s.b))],
             f"{'same, rejected' if s.same else 'different, accepted'}: d={fmt(s.distance, 3)} "
             f"(t={fmt(s.threshold, 3)}) {s.source}") for s in fr + fa]
    rep.heading(f"{e.engine}: worst errors", 3)
    rep.para(f"{sum(1 for s in test if s.same)} same pairs rejected, "
             f"{sum(1 for s in test if not s.same)} different pairs accepted; the worst {WORST} of each:")
    rep.table(["kind", "distance", "threshold", "photo a", "photo b", "line"],
              [["same, rejected" if s.same else "different, accepted", fmt(s.distance), fmt(s.threshold),
                s.a, s.b, s.source] for s in fr + fa])
    if rows:
        rep.figure(Figure(f"worst_{e.engine}", plots.thumbs_png(rows, f"{e.engine}: worst errors"),
                          f"{e.engine}: worst errors (faces as embedded)"))


def identify_report(result: IdentifyResult) -> Report:
    """Open-set identification report."""
    rep = Report(f"Open-set identification: {result.directory}")
    rep.para(f"Split: people in natural folder order; every {result.stranger_every}th person is a stranger "
             f"(never enrolled, all photos are probes); the others enrol their first {result.enroll_k} photos "
             "and the rest are probes. A probe is named as the person of its nearest enrolled photo when "
             "the Euclidean distance is at or below the threshold.")
    rep.para(f"Faces: {result.policy} Detector settings: {result.settings}.")
    rep.heading("Summary")
    rep.table(["engine", "people (known + strangers)", "enrolled photos", "known probes", "stranger probes",
               "rank-1", "DIR at FAR 1%", "DIR at FAR 0.1%"],
              [[e.engine, f"{e.n_known} + {e.n_strangers}", e.n_enrolled_photos, e.n_known_probes,
                e.n_stranger_probes, pct(e.rank1), *[_dir(e, label) for label in ("FAR 1.0%", "FAR 0.1%")]]
               for e in result.engines])
    rep.heading("Operating points")
    rep.para("stranger FAR: share of stranger probes named as someone (resolution 1/stranger probes). "
             "known named / wrong / rejected: shares of known probes named correctly, named as someone "
             "else, or left unknown.")
    rep.table(["engine", "point", "threshold", "stranger FAR", "strangers accepted", "known named",
               "known wrong", "known rejected"],
              [[e.engine, p.label, fmt(p.threshold), pct(p.stranger_far), p.strangers_accepted,
                pct(p.known_named), pct(p.known_wrong), pct(p.known_rejected)]
               for e in result.engines for p in e.points])
    rep.heading("Recommended threshold from the enrolled photos (recommend_threshold)")
    rep.para(_METHOD + " Only the enrolled photos (plus negatives, when given) and the model's prior enter it; "
             "the probes and the strangers play no part. Its operating point on the probes is the "
             "'recommended' row above.")
    _recommendation_table(rep, [(e.engine, r) for e in result.engines if (r := e.recommendation) is not None])
    _timing_table(rep, [e.stats for e in result.engines])
    _status_table(rep, {e.engine: e.photo_status for e in result.engines})
    for e in result.engines:
        _identify_engine(rep, e)
    _problems(rep, result.problems + [p for e in result.engines for p in e.problems],
              "Empty person folders, photos missing, unreadable or without a face, and known people "
              "left without probes, with how each was counted.")
    return rep


def _dir(e: EngineIdentify, label: str) -> str:
    p = next((p for p in e.points if p.label == label), None)
    return "- (no strangers)" if p is None else f"DIR {pct(p.known_named)} (t={fmt(p.threshold, 3)})"


def _identify_engine(rep: Report, e: EngineIdentify) -> None:
    rep.heading(f"{e.engine}: details")
    known = [p for p in e.probes if not p.stranger]
    strange = [p for p in e.probes if p.stranger]
    lines = {p.label: p.threshold for p in e.points if not p.label.startswith("FAR 0.1")}
    rep.figure(Figure(f"hist_{e.engine}", plots.hist_png(
        np.array([p.own_distance for p in known]), np.array([p.distance for p in strange]), lines,
        f"{e.engine}: known probes to their own person vs strangers to the nearest person",
        "known: distance to own person", "strangers: distance to nearest"),
        f"{e.engine}: distance histograms with the thresholds"))
    fixed = e.points[0].threshold
    rep.figure(Figure(f"people_{e.engine}", plots.bars_png(
        [p.name for p in e.persons],
        [(p.accepted if p.stranger else p.named) / max(p.n_probes, 1) for p in e.persons],
        f"{e.engine}: per person at t={fixed:.3f} (blue: known named, red: stranger accepted)", "share of probes",
        ["tab:red" if p.stranger else "tab:blue" for p in e.persons]), f"{e.engine}: per-person breakdown"))
    rep.table(["person", "role", "photos", "enrolled", "probes", "rank-1 right", f"named at {fixed:.3f}",
               f"accepted at {fixed:.3f}"],
              [[p.name, "stranger" if p.stranger else "known", p.n_photos, p.n_enrolled, p.n_probes,
                "-" if p.stranger else p.rank1, "-" if p.stranger else p.named,
                p.accepted if p.stranger else "-"] for p in e.persons])
    bad_s = sorted((p for p in strange if p.nearest is not None and p.distance <= fixed),
                   key=lambda p: p.distance)[:WORST]
    bad_k = sorted((p for p in known if p.nearest != p.person or p.distance > fixed),
                   key=lambda p: -p.own_distance if p.nearest == p.person else p.distance)[:WORST]
    rows = [([(p.path, _box(e.photos, p.path)), (p.nearest_path or "", _box(e.photos, p.nearest_path))],
             f"{'stranger' if p.stranger else 'known'} {p.person} → nearest {p.nearest} d={fmt(p.distance, 3)}")
            for p in bad_s + bad_k]
    if rows:
        rep.figure(Figure(f"worst_{e.engine}", plots.thumbs_png(rows, f"{e.engine}: worst errors at t={fixed:.3f}"),
                          f"{e.engine}: strangers accepted and known probes missed (probe, nearest enrolled)"))


def detect_report(result: DetectResult) -> Report:
    """Detection precision/recall report with overlays."""
    rep = Report(f"Face detection: {result.xml}")
    rep.para(f"Greedy matching at IoU >= {result.iou_min}; detector settings {result.settings}.")
    rep.table(["engine", "precision", "recall", "TP", "FP", "FN", "mean IoU of TP", "detect s"],
              [[e.engine, pct(e.precision), pct(e.recall), e.tp, e.fp, e.fn, fmt(e.mean_iou, 3), f"{e.detect_s:.2f}"]
               for e in result.engines])
    for e in result.engines:
        rep.heading(f"{e.engine}: per image")
        rep.table(["image", "TP", "FP", "FN", "detect s"],
                  [[i.path, i.tp, i.fp, i.fn, f"{i.detect_s:.3f}"] for i in e.images])
        for k, i in enumerate(e.images):
            rep.figure(Figure(f"det_{e.engine}_{k}", plots.detections_png(
                i.path, i.gt_xyxy, i.gt_matched, i.det_xyxy, i.det_label, f"{e.engine}: TP {i.tp} FP {i.fp} FN {i.fn}"),
                f"{e.engine}: {i.path} (green/orange: truth found/missed; blue/red dashed: detection right/wrong)"))
    _problems(rep, [p for e in result.engines for p in e.problems], "Images that could not be read.")
    return rep


def calibrate_report(results: list[CalibrateResult], directory: str) -> Report:
    """Threshold recommendation report."""
    rep = Report(f"Threshold calibration: {directory}")
    rep.para(_METHOD + " Leave-one-out checks it: impostor scores are each photo's distance to the nearest "
             "photo of any other person; genuine scores the distance to the nearest other photo of the same "
             "person.")
    _recommendation_table(rep, [(c.engine, c.recommendation) for c in results])
    for c in results:
        r = c.recommendation
        rep.figure(Figure(f"hist_{c.engine}", plots.hist_png(
            np.array(r.genuine_distances), np.array(r.impostor_distances),
            {"recommended": r.max_distance, "model default": c.default_max_distance},
            f"{c.engine}: leave-one-out scores", "genuine (same person)", "impostor (nearest other person)"),
            f"{c.engine}: leave-one-out distances"))
    _timing_table(rep, [c.stats for c in results])
    _problems(rep, [p for c in results for p in c.problems], "Photos left out of the calibration.")
    return rep


_METHOD = ("The recommended max_distance is min(household estimate, model prior estimate, model default): "
           "a stranger compared with N enrolled photos is accepted with probability 1-(1-p)^N, so the target "
           "FAR F needs a per-comparison FAR p* = 1-(1-F)^(1/N); the household estimate is the p*-quantile of a "
           "normal fitted to all cross-person distances between enrolled photos, the prior estimate that of "
           "a normal fitted to the lower quantiles of the model's impostor distances on LFW View 1 "
           "pairsDevTrain (models/manifest.toml).")


def _recommendation_table(rep: Report, rows: list[tuple[str, Recommendation]]) -> None:
    rep.table(["engine", "max_distance", "set by", "household estimate", "prior estimate", "target FAR",
               "photos N", "p*", "cross-person pairs", "modelled FAR", "leave-one-out FAR", "leave-one-out named",
               "rank-1", "negatives", "warnings"],
              [[e, fmt(r.max_distance), r.binding, fmt(r.household_threshold), fmt(r.prior_threshold),
                f"{r.target_far:g}", r.n_enrolled, f"{r.per_comparison_far:.3g}", r.n_household_pairs,
                pct(r.expected_far), pct(r.loo_far), pct(r.expected_named), pct(r.expected_rank1), r.n_negatives,
                "; ".join(r.warnings) or "-"] for e, r in rows])
