"""The ``facecam`` command (also ``python -m camera``).

Exit status: 0 success (and a run stopped by SIGINT/SIGTERM); 1 some items
failed (for example photos skipped at enrolment); 2 the command could not go
on (bad config, missing camera, unreadable gallery). Errors are one line on
standard error, starting with ``facecam: error:``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from camera import __version__
from camera.config import Config, load_config
from camera.errors import FacecamError
from camera.status import StatusWriter

if TYPE_CHECKING:
    from camera.pipeline import Pipeline

log = logging.getLogger("camera")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file (see facecam.example.toml)")
    p.add_argument("--data-dir", type=Path, help="gallery, snapshots and model cache "
                   "(default: $FACECAM_DATA_DIR or the user data directory)")
    p.add_argument("--engine", help="detection/embedding engine: dlib or onnx")
    p.add_argument("--detector", metavar="NAME", help="face detector: hog, cnn/mmod, yunet, or a detector "
                   "entry of models.toml in the model directory")
    p.add_argument("--upsample", type=int, help="times to double the image to find small faces (0-3)")
    p.add_argument("--embedder", help="a user embedder named in models.toml in the model directory (onnx engine)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facecam", description="Local, private face recognition for cameras.")
    parser.add_argument("--version", action="version", version=f"facecam {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="recognise faces from a camera, video or photo folder and raise alerts")
    _common(run)
    run.add_argument("--source", help="video file, photo folder, 0 or /dev/videoN, rtsp:// or http:// URL, "
                     "picamera (replaces the config's cameras)")
    run.add_argument("--camera", default="default", help="camera name for --source (default: default)")
    run.add_argument("--jsonl", help="write alerts as JSON lines to FILE ('-' for standard output)")
    run.add_argument("--max-distance", type=float, help="name a face only at or below this distance")
    run.add_argument("--fps-cap", type=float, help="process at most this many frames a second")
    run.add_argument("--cooldown", type=float, help="seconds before the same person alerts again")
    run.add_argument("--snapshots", action="store_true", default=None, help="save a JPEG per alert")

    enroll = sub.add_parser("enroll", help="enrol a person from photos showing only them")
    _common(enroll)
    enroll.add_argument("name", nargs="?", help="the person's name")
    enroll.add_argument("photos", nargs="*", type=Path, help="photos of that person, one face each")
    enroll.add_argument("--from-dir", type=Path, help="enrol everyone in DIR/NAME/*.jpg")

    people = sub.add_parser("people", help="list, rename or remove enrolled people")
    _common(people)
    psub = people.add_subparsers(dest="action", metavar="ACTION")
    psub.add_parser("list", help="list people (the default)")
    ren = psub.add_parser("rename", help="rename a person")
    ren.add_argument("old")
    ren.add_argument("new")
    rem = psub.add_parser("remove", help="remove a person and their photos")
    rem.add_argument("name")
    psub.add_parser("rebuild", help="re-embed stored photos with the current engine's model")

    events = sub.add_parser("events", help="list recent visits (events) and who is home")
    _common(events)
    events.add_argument("--limit", type=int, default=20, help="show at most this many events (default 20)")
    events.add_argument("--person", help="only this person's events (or 'unknown')")

    label = sub.add_parser("label", help="correct an event: enrol its face as NAME, or say it is --not NAME")
    _common(label)
    label.add_argument("event", help="event id, or a unique prefix of at least 6 characters (see facecam events)")
    label.add_argument("name", nargs="?", help="enrol the event's face crop as this person")
    label.add_argument("--not", dest="not_name", metavar="NAME",
                       help="the face is not NAME: store it as a negative example so it is not named NAME again")

    cal = sub.add_parser("calibrate", help="recommend max_distance for the enrolled people; optionally write it")
    _common(cal)
    cal.add_argument("--target-far", type=float, default=0.01,
                     help="share of strangers that may be named as someone (default 0.01)")
    cal.add_argument("--negatives-dir", type=Path, help="photos of people who are not enrolled (optional)")
    cal.add_argument("--write", type=Path, metavar="CONFIG",
                     help="set [matching] max_distance in this TOML file (created if missing; other lines kept)")

    status = sub.add_parser("status", help="is the daemon running: cameras, fps, dropped frames, sink queues")
    status.add_argument("--config", type=Path, help="TOML config file")
    status.add_argument("--data-dir", type=Path, help="the daemon's data directory")

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=Path)

    demo = sub.add_parser("demo", help="run the whole pipeline offline on a bundled photograph")
    _common(demo)

    sub.add_parser("evaluate", help="offline accuracy and speed evaluation (see facecam evaluate --help)",
                   add_help=False)
    return parser


def _config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config) if getattr(args, "config", None) else Config()
    return cfg.with_overrides(**{"engine.name": getattr(args, "engine", None),
                                 "engine.detector": getattr(args, "detector", None),
                                 "engine.upsample": getattr(args, "upsample", None),
                                 "engine.embedder": getattr(args, "embedder", None)})


def cmd_run(args: argparse.Namespace) -> int:
    from camera.app import build_pipeline, data_dir
    from camera.gallery import Gallery

    cfg = _config(args).with_overrides(**{"matching.max_distance": args.max_distance,
                                          "alerts.jsonl": args.jsonl, "alerts.cooldown_s": args.cooldown,
                                          "alerts.snapshots": args.snapshots})
    if args.source is not None:
        cam = {"source": args.source, "fps_cap": args.fps_cap}
        cfg = Config.model_validate({**cfg.model_dump(), "cameras": {args.camera: cam}})
    elif args.fps_cap is not None:
        cfg = cfg.with_overrides(**{f"cameras.{n}.fps_cap": args.fps_cap for n in cfg.cameras})
    root = data_dir(cfg, args.data_dir)
    with Gallery(root) as gallery:
        pipeline = build_pipeline(cfg, root, gallery)

        def _stop(signum: int, _frame: object) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            pipeline.stop_reason = "signal"
            pipeline.stop.set()

        old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
        status = StatusWriter(root, _status_snapshot(pipeline))
        status.start()
        try:
            summary = pipeline.run()
        finally:
            status.stop()
            for s, h in old.items():
                signal.signal(s, h)
    for name, st in summary.cameras.items():
        fps = st.frames / summary.wall_s if summary.wall_s else 0.0
        log.info("%s: %d frames (%.1f fps), %d faces, %d alerts, %d dropped, %d frame errors; detector ran on "
                 "%d frames, %d faces embedded, %d tracks, %d visits", name, st.frames, fps, st.faces, st.alerts,
                 summary.dropped.get(name, 0), st.errors, st.detected, st.embedded, st.tracks, st.events)
    return 0


def _status_snapshot(pipeline: Pipeline) -> Callable[[], dict]:
    """A function giving the running pipeline's per-camera counters, with frames per second since the last call."""
    last: dict[str, tuple[float, int]] = {}

    def snapshot() -> dict:
        now = time.monotonic()
        dropped = {w.camera: w.stats for w in pipeline.workers}
        cameras = {}
        for name, st in list(pipeline.live_stats.items()):
            t0, f0 = last.get(name, (now, 0))
            fps = (st.frames - f0) / (now - t0) if now > t0 else 0.0
            last[name] = (now, st.frames)
            cap = dropped.get(name)
            cameras[name] = {"frames": st.frames, "fps": round(fps, 2), "dropped": cap.dropped if cap else 0,
                             "reconnects": cap.reconnects if cap else 0, "faces": st.faces, "alerts": st.alerts,
                             "visits": st.events, "errors": st.errors}
        return {"cameras": cameras}

    return snapshot


def cmd_status(args: argparse.Namespace) -> int:
    from camera.app import data_dir
    from camera.status import format_status, read_status

    root = data_dir(_config(args), args.data_dir)
    print(format_status(root))
    status = read_status(root)
    return 0 if status is not None and status["alive"] else 1


def _print_outcomes(outcomes: list) -> int:
    for o in outcomes:
        line = f"{o.status:9} {o.person}: {o.path}" + (f" ({o.reason})" if o.reason and o.status != "skipped" else "")
        print(line if o.status != "skipped" else f"skipped   {o.reason}")
    ok = sum(o.ok for o in outcomes)
    print(f"{ok} of {len(outcomes)} photos enrolled", file=sys.stderr)
    return 0 if ok == len(outcomes) else 1


def cmd_enroll(args: argparse.Namespace) -> int:
    from camera.app import data_dir, engine_cache, enrolment_engine
    from camera.enroll import enroll_from_dir, enroll_photos
    from camera.gallery import Gallery, validate_name

    if args.from_dir is None and (not args.name or not args.photos):
        raise FacecamError("give NAME and at least one PHOTO, or --from-dir DIR")
    if args.from_dir is not None and (args.name or args.photos):
        raise FacecamError("--from-dir takes the names from DIR/NAME/; give no NAME or PHOTO with it")
    if args.name:
        validate_name(args.name)
    cfg = _config(args)
    root = data_dir(cfg, args.data_dir)
    engine = enrolment_engine(cfg, engine_cache(cfg, root))
    with Gallery(root) as gallery:
        if args.from_dir is not None:
            outcomes = enroll_from_dir(gallery, engine, args.from_dir)
        else:
            outcomes = enroll_photos(gallery, engine, args.name, args.photos)
    return _print_outcomes(outcomes)


def cmd_people(args: argparse.Namespace) -> int:
    from camera.app import data_dir, engine_cache, enrolment_engine
    from camera.enroll import rebuild
    from camera.gallery import Gallery

    cfg = _config(args)
    root = data_dir(cfg, args.data_dir)
    with Gallery(root) as gallery:
        if args.action in (None, "list"):
            rows = gallery.people()
            if not rows:
                print(f"no one is enrolled in {root}", file=sys.stderr)
            for p in rows:
                print(f"{json.dumps(p.name, ensure_ascii=False)}\t{p.photos} photos\t{p.embeddings} embeddings"
                      f"\t{', '.join(p.models)}")
        elif args.action == "rename":
            gallery.rename(args.old, args.new)
            print(f"renamed {args.old!r} to {args.new!r}")
        elif args.action == "remove":
            n = gallery.remove(args.name)
            print(f"removed {args.name!r} and {n} photos")
        elif args.action == "rebuild":
            return _print_outcomes(rebuild(gallery, enrolment_engine(cfg, engine_cache(cfg, root))))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from camera.app import data_dir, events_settings
    from camera.events import EventStore

    cfg = _config(args)
    root = data_dir(cfg, args.data_dir)
    with EventStore(root, events_settings(cfg)) as store:
        for p in store.presence():
            state = "home since" if p.home else "away since"
            print(f"{json.dumps(p.person, ensure_ascii=False)}\t{state} {p.since:%Y-%m-%d %H:%M:%S}Z\t"
                  f"last seen {p.last_seen:%Y-%m-%d %H:%M:%S}Z on {p.camera}")
        rows = store.list(args.limit, args.person)
        if not rows:
            print(f"no events in {root}", file=sys.stderr)
        for e in rows:
            dist = "-" if e.distance is None else f"{e.distance:.3f}"
            print(f"{e.id}\t{e.start:%Y-%m-%d %H:%M:%S}Z\t{(e.end - e.start).total_seconds():.1f} s\t{e.camera}\t"
                  f"{json.dumps(e.person, ensure_ascii=False)}\t{dist}\t{e.snapshot or '-'}")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from camera.app import data_dir, engine_cache, enrolment_engine, events_settings
    from camera.enroll import enroll_photos
    from camera.events import EventStore
    from camera.gallery import Gallery, validate_name
    from camera.types import UNKNOWN

    if args.name is None and args.not_name is None:
        raise FacecamError("give NAME (enrol the event's face as NAME) or --not NAME (it is not NAME)")
    for n in (args.name, args.not_name):
        if n is not None:
            validate_name(n)
    cfg = _config(args)
    root = data_dir(cfg, args.data_dir)
    status = 0
    with EventStore(root, events_settings(cfg)) as store, Gallery(root) as gallery:
        event = store.get(args.event)
        if args.not_name is not None:
            added = gallery.add_negative(args.not_name, event.vectors, event.model_id, f"event:{event.id}")
            print(f"event {event.id}: {len(event.vectors)} faces stored as not {args.not_name!r} ({added} new)")
            if event.person == validate_name(args.not_name):
                store.update(event.id, event.end, event.end_s, person=UNKNOWN)
        if args.name is not None:
            if event.crop is None:
                raise FacecamError(f"event {event.id} has no face crop to enrol (pictures of known people are "
                                   "not kept with [events] known_images = false, or it was removed)")
            engine = enrolment_engine(cfg, engine_cache(cfg, root))
            status = _print_outcomes(enroll_photos(gallery, engine, args.name, [Path(event.crop)]))
            if status == 0:
                store.update(event.id, event.end, event.end_s, person=validate_name(args.name))
    return status


def cmd_calibrate(args: argparse.Namespace) -> int:
    from camera.app import data_dir
    from camera.evaluation.gallery_calibrate import calibrate_gallery, describe, rounded, set_max_distance

    if not 0.0 < args.target_far < 1.0:
        raise FacecamError(f"--target-far: expected a value between 0 and 1, got {args.target_far}")
    cfg = _config(args)
    rec, model_id, default_t = calibrate_gallery(data_dir(cfg, args.data_dir), cfg, args.target_far,
                                                 args.negatives_dir)
    print("\n".join(describe(rec, model_id, default_t)))
    if args.write is not None:
        set_max_distance(args.write, rounded(rec.max_distance))
        print(f"wrote [matching] max_distance = {rounded(rec.max_distance):.4f} to {args.write}")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.file)
    print(f"{args.file}: OK ({len(cfg.cameras)} cameras, engine {cfg.engine.name}, detector {cfg.engine.resolved_detector})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from camera.alerts import JsonlSink
    from camera.app import build_pipeline, engine_cache, enrolment_engine
    from camera.demo import DEMO_PERSON, astronaut_path, enrolment_photo, render_clip
    from camera.enroll import enroll_photos
    from camera.gallery import Gallery
    from camera.imageio import load_image

    cfg = _config(args)
    with tempfile.TemporaryDirectory(prefix="facecam-demo-") as tmp:
        root = args.data_dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        source = astronaut_path()
        photo = enrolment_photo(load_image(source), root / "enrol_eileen_collins.png")
        print(f"1. enrolling {DEMO_PERSON} from a crop of {source}", file=sys.stderr)
        with Gallery(root) as gallery:
            outcomes = enroll_photos(gallery, enrolment_engine(cfg, engine_cache(cfg, root)),
                                     DEMO_PERSON, [photo])
            if not all(o.ok for o in outcomes):
                raise FacecamError(f"demo enrolment failed: {outcomes[0].reason}")
            clip = render_clip(load_image(source), root / "demo_clip.mp4")
            print(f"2. rendered a {clip.stat().st_size // 1024} KiB test clip: {clip}", file=sys.stderr)
            print("3. running capture → detect → embed → match → alerts on it; alerts:", file=sys.stderr)
            cfg = Config.model_validate({**cfg.model_dump(), "cameras": {"demo": {"source": str(clip)}}})
            pipeline = build_pipeline(cfg, root, gallery, sinks=[JsonlSink("-")])
            summary = pipeline.run()
    st = summary.cameras["demo"]
    named = sum(a.person == DEMO_PERSON for a in pipeline.alerts)
    print(f"done: {st.frames} frames, {st.faces} faces, {len(pipeline.alerts)} alerts, {named} naming "
          f"{DEMO_PERSON}, in {summary.wall_s:.1f} s", file=sys.stderr)
    return 0 if named else 1


COMMANDS = {"run": cmd_run, "enroll": cmd_enroll, "people": cmd_people, "check-config": cmd_check_config,
            "demo": cmd_demo, "status": cmd_status, "events": cmd_events, "label": cmd_label, "calibrate": cmd_calibrate}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if argv and argv[0] == "evaluate":
        from camera.evaluation.cli import main as evaluate_main

        return evaluate_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except FacecamError as exc:
        print(f"facecam: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
