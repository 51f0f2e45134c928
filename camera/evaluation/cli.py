"""``facecam evaluate`` / ``scripts/evaluate.py``: offline evaluation sub-commands.

    evaluate pairs PAIRS [--train FILE] [--root DIR] [--limit N]     verification (LFW, CSV)
    evaluate identify DIR [--enroll-k 3] [--stranger-every 4]        open-set identification
    evaluate detect XML [--iou 0.5]                                  detection precision/recall
    evaluate calibrate --from-dir DIR [--target-far 0.01]            recommend max_distance

Every command takes ``--engine dlib,onnx`` (engines side by side), the
detector settings, ``--cache-dir``/``--no-cache``, ``--workers`` and
``--out DIR`` (``COMMAND.md`` + ``COMMAND.html``), ``--json FILE``. Exit
status: 0 done, 2 bad arguments or inputs (the message says which).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from camera.detect.config import DetectConfig
from camera.errors import USER_ERRORS
from camera.evaluation import render
from camera.evaluation.cache import default_cache_dir
from camera.evaluation.calibrate import calibrate_dir
from camera.evaluation.common import RunOptions, parse_detectors, parse_engines
from camera.evaluation.detect import evaluate_detect
from camera.evaluation.extract import FacePolicy
from camera.evaluation.identify import evaluate_identify
from camera.evaluation.pairs import evaluate_pairs
from camera.evaluation.report import pct, write_json
from camera.evaluation.video import evaluate_video, video_report
from camera.evaluation.views import check_views

log = logging.getLogger(__name__)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for ``facecam evaluate`` to mount)."""
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("engines and detection")
    g.add_argument("--engine", default="dlib",
                   help="engine name(s), comma-separated; ENGINE:EMBEDDER runs a user embedder (default: dlib)")
    g.add_argument("--detector", default="hog,onnx=mmod",
                   help="detector model, for all engines or per engine as ENGINE=MODEL, comma-separated "
                        "(default: hog,onnx=mmod: dlib's HOG, and the onnx engine's MMOD CNN since it has no HOG)")
    g.add_argument("--upsample", type=int, default=1, help="detector upsampling steps 0..3 (default: 1)")
    g.add_argument("--max-width", type=int, default=640,
                   help="detect on a copy at most this wide, in pixels; 0 = full size (default: 640)")
    g.add_argument("--min-face", type=int, default=20, help="drop faces smaller than this, pixels (default: 20)")
    g.add_argument("--face", choices=["largest", "central", "whole"],
                   help="which face to embed: largest box, most central box, or the whole image as the "
                        "face (no detection) (default: central for pairs, largest otherwise)")
    g.add_argument("--no-upsample-fallback", action="store_true",
                   help="do not retry detection with one more upsampling step when no face is found")
    g.add_argument("--center-box", choices=["on", "off"],
                   help="embed a fixed central box when no face is found (default: on for pairs, off otherwise)")
    g.add_argument("--views", type=_views, default=1,
                   help="average each face's vector over N views of its chip: 1 = none, 2 = with its mirror "
                        "image, 2k = k small shifts/zooms/rotations and their mirrors (N times the "
                        "descriptor cost; default: 1)")
    g.add_argument("--model-dir", type=Path,
                   help="folder whose models.toml names the user embedders of ENGINE:EMBEDDER engines "
                        "(default: $FACECAM_MODEL_DIR, else the model cache)")
    o = common.add_argument_group("running and output")
    o.add_argument("--cache-dir", type=Path, help=f"embedding cache folder (default: {default_cache_dir()})")
    o.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    o.add_argument("--workers", type=int, help="worker processes (default: CPU count)")
    o.add_argument("--progress", choices=["auto", "on", "off"], default="auto", help="progress bar")
    o.add_argument("--out", type=Path, default=Path("evaluation-report"),
                   help="folder for COMMAND.md and COMMAND.html (default: ./evaluation-report)")
    o.add_argument("--json", type=Path, help="also write every number here (default: OUT/COMMAND.json)")
    o.add_argument("-v", "--verbose", action="store_true", help="log progress details")

    parser = argparse.ArgumentParser(prog="facecam evaluate", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pairs", parents=[common], help="verification accuracy on a pairs file")
    p.add_argument("pairs_file", type=Path, help="LFW pairs .txt (N or FOLDS N header) or .csv (path_a,path_b,same)")
    p.add_argument("--train", type=Path, help="choose the threshold on this pairs file (LFW View 1: pairsDevTrain)")
    p.add_argument("--root", type=Path, help="LFW photo folder / CSV base folder (default: beside the file)")
    p.add_argument("--limit", type=int, help="use only N pairs of each file (half same, half different)")
    p.add_argument("--folds", type=int, default=10, help="folds for a file without folds (default: 10)")
    i = sub.add_parser("identify", parents=[common], help="open-set identification on DIR/NAME/*")
    i.add_argument("directory", type=Path)
    i.add_argument("--enroll-k", type=int, default=3, help="photos enrolled per known person (default: 3)")
    i.add_argument("--stranger-every", type=int, default=4, help="every Nth person is a stranger (default: 4)")
    i.add_argument("--threshold", type=float, help="fixed max_distance to report (default: the model's)")
    i.add_argument("--target-far", type=float, default=0.01,
                   help="false-accept rate the recommended threshold aims at (default: 0.01)")
    i.add_argument("--limit-people", type=int, help="use only the first N people")
    i.add_argument("--negatives-dir", type=Path,
                   help="photos of people who are never enrolled, added to the recommendation's impostor scores")
    i.add_argument("--negatives-limit", type=int, help="use N of the negative photos, evenly spaced")
    d = sub.add_parser("detect", parents=[common], help="detection precision/recall against imglab XML")
    d.add_argument("xml", type=Path)
    d.add_argument("--iou", type=float, default=0.5, help="IoU needed for a match (default: 0.5)")
    d.add_argument("--root", type=Path, help="image folder (default: the XML's folder)")
    c = sub.add_parser("calibrate", parents=[common], help="recommend max_distance from enrolment photos")
    c.add_argument("--from-dir", type=Path, required=True, help="DIR/NAME/* photos of enrolled people")
    c.add_argument("--negatives-dir", type=Path, help="photos of people not enrolled (optional)")
    c.add_argument("--negatives-limit", type=int, help="use N of the negative photos, evenly spaced")
    c.add_argument("--target-far", type=float, default=0.01, help="target false-accept rate (default: 0.01)")
    v = sub.add_parser("video", parents=[common], help="event precision/recall on a clip with expected visits")
    v.add_argument("clip", type=Path, help="video file")
    v.add_argument("expected", type=Path, help="CSV person,start_s,end_s: one row per appearance")
    v.add_argument("--gallery", type=Path, required=True, help="DIR/NAME/* photos of the enrolled people")
    v.add_argument("--tolerance", type=float, default=1.0, help="seconds of slack around each appearance")
    return parser


def _views(text: str) -> int:

    try:
        return check_views(int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _options(args: argparse.Namespace) -> RunOptions:
    default, per_engine = parse_detectors(args.detector)
    settings = DetectConfig(detector=default, upsample=args.upsample, detect_max_width=args.max_width or None,
                            min_face_px=args.min_face)
    cache = None if args.no_cache else (args.cache_dir or default_cache_dir())
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    return RunOptions(parse_engines(args.engine), settings, cache, args.workers, progress, per_engine)


def _policy(args: argparse.Namespace, select: str, box: bool) -> FacePolicy:
    return FacePolicy(select=args.face or select, fallback_upsample=not args.no_upsample_fallback,
                      fallback_box=box if args.center_box is None else args.center_box == "on",
                      views=args.views)


def main(argv: list[str] | None = None) -> int:
    """Run one evaluation sub-command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.views != 1 and args.command in ("detect", "video"):
        parser.error(f"--views applies to pairs, identify and calibrate, not to {args.command}")
    if args.model_dir is None:
        return _main(args, argv)
    previous = os.environ.get("FACECAM_MODEL_DIR")
    os.environ["FACECAM_MODEL_DIR"] = str(args.model_dir)  # read by get_engine here and in the spawned workers
    try:
        return _main(args, argv)
    finally:
        if previous is None:
            os.environ.pop("FACECAM_MODEL_DIR", None)
        else:
            os.environ["FACECAM_MODEL_DIR"] = previous


def _main(args: argparse.Namespace, argv: list[str] | None) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        options = _options(args)
        lines: list[str] = []
        if args.command == "pairs":
            result = evaluate_pairs(args.pairs_file, options, args.train, args.root, args.limit, args.folds,
                                    _policy(args, "central", True))
            report = render.pairs_report(result)
            lines = [f"{e.engine}: accuracy {pct(e.accuracy_mean, 2)} ± {pct(e.accuracy_std, 2)} on {e.pairs} pairs "
                     f"({e.protocol}, threshold {e.threshold:.4f}); {e.stats.computed} photos computed, "
                     f"{e.stats.cache_hits} cached, {e.stats.wall_s:.1f} s" for e in result.engines]
        elif args.command == "identify":
            result = evaluate_identify(args.directory, options, args.enroll_k, args.stranger_every, args.threshold,
                                       args.target_far, _policy(args, "largest", False), args.limit_people,
                                       args.negatives_dir, args.negatives_limit)
            report = render.identify_report(result)
            lines = [f"{e.engine}: rank-1 {pct(e.rank1)}; " + "; ".join(
                f"{p.label}: t={p.threshold:.4f} stranger FAR {pct(p.stranger_far)}, known named {pct(p.known_named)}"
                for p in e.points) for e in result.engines]
        elif args.command == "detect":
            result = evaluate_detect(args.xml, options, args.iou, args.root)
            report = render.detect_report(result)
            lines = [f"{e.engine}: precision {pct(e.precision)}, recall {pct(e.recall)} "
                     f"(TP {e.tp}, FP {e.fp}, FN {e.fn})" for e in result.engines]
        elif args.command == "video":

            result = evaluate_video(args.clip, args.expected, args.gallery, options.engines, args.tolerance,
                                    {e: options.settings_for(e).detector or "" for e in options.engines})
            report = video_report(result)
            lines = [f"{e.engine}: precision {pct(e.score.precision)}, recall {pct(e.score.recall)} "
                     f"(TP {e.score.tp}, FP {e.score.fp}, FN {e.score.fn}), mean time to first alert "
                     + ("-" if e.score.mean_time_to_first_s is None else f"{e.score.mean_time_to_first_s:.2f} s")
                     + f", {e.fps:.1f} fps" for e in result.engines]
        else:
            result = calibrate_dir(args.from_dir, options, args.target_far, args.negatives_dir,
                                   _policy(args, "largest", False), args.negatives_limit)
            report = render.calibrate_report(result, str(args.from_dir))
            lines = [f"{c.engine}: recommended max_distance {c.recommendation.max_distance:.4f} "
                     f"(set by {c.recommendation.binding}, modelled FAR {pct(c.recommendation.expected_far)}, "
                     f"leave-one-out named {pct(c.recommendation.expected_named)})" for c in result]
        md, html = report.write(args.out / f"{args.command}.md")
        js = write_json({"command": args.command, "argv": list(sys.argv[1:] if argv is None else argv),
                         "result": result}, args.json or args.out / f"{args.command}.json")
    except (*USER_ERRORS, FileNotFoundError, ValueError) as exc:
        print(f"evaluate {args.command}: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    print(f"report: {md} and {html}; numbers: {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
