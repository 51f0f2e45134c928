"""The ``facecam`` command (also ``python -m camera``).

Exit status: 0 success (and a run stopped by SIGINT/SIGTERM); 1 some items
failed (for example photos skipped at enrolment); 2 the command could not go
on (bad config, missing camera, unreadable gallery). Errors are one line on
standard error, starting with ``facecam: error:``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, Protocol

from camera import __version__
from camera.alerts.sinks.jsonl import JsonlSink
from camera.alerts.sinks.memory import MemorySink
from camera.app import OUTBOX_DB, build_pipeline, data_dir, engines_for, model_dir, status_snapshot
from camera.config import Config, load_config
from camera.cores import session_threads
from camera.demo import DEMO_PERSON, demo_photo, render_clip
from camera.errors import USER_ERRORS, FacecamError
from camera.evaluation.cli import main as evaluate_main
from camera.evaluation.gallery_calibrate import calibrate_gallery, describe, rounded, set_max_distance
from camera.fsutil import DataDirLock, DirectoryLocked
from camera.gallery.enroll import EnrolOutcome, EnrolStatus, enroll_photos
from camera.gallery.store import Gallery, validate_name
from camera.household.sync import SyncStats
from camera.imageio import load_image
from camera.malloc import limit_arenas, map_large_blocks
from camera.profiles import profile_names
from camera.redact import LogFilter, one_line, redact_text
from camera.service import Service
from camera.status import StatusWriter, format_status
from camera.web.accounts import ACCOUNTS_DB, Accounts, check_password, check_user_name
from camera.web.config import WebConfig, parse_listen
from camera.web.feed import AlertFeed, AlertSource, OutboxTail
from camera.web.live import LiveView

log = logging.getLogger("camera")

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


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


class _Parser(argparse.ArgumentParser):
    """argparse reporting a bad command line like any other error: after the usage, one line
    ``facecam: error: ...`` (also from a subcommand), control characters escaped, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"facecam: error: {one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="facecam", description="Local, private face recognition for cameras.")
    parser.add_argument("--version", action="version", version=f"facecam {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="recognise faces from a camera, video or photo folder and raise alerts")
    _common(run)
    run.add_argument("--source", help="video file, photo folder, 0 or /dev/videoN, rtsp:// or http:// URL, "
                     "picamera[:N] (rpicam-vid) or picamera2[:N] (replaces the config's cameras)")
    run.add_argument("--camera", default="default", help="camera name for --source (default: default)")
    run.add_argument("--profile", metavar="NAME", help=f"a board's settings ({profile_names()}) for the keys the "
                     "config and the other flags leave unset; replaces the config's profile")
    run.add_argument("--loop", action="store_true", help="play --source (a video file or photo folder) over and "
                     "over in real time, like a live camera")
    run.add_argument("--jsonl", help="write alerts as JSON lines to FILE ('-' for standard output)")
    run.add_argument("--max-distance", type=float, help="name a face only at or below this distance")
    run.add_argument("--fps-cap", type=float, help="process at most this many frames a second")
    run.add_argument("--cooldown", type=float, help="seconds before the same person alerts again")
    run.add_argument("--snapshots", action="store_true", default=None, help="save a JPEG per alert")
    run.add_argument("--web", metavar="[HOST:]PORT", help="also serve the web app and API here (e.g. 8080, "
                     "0.0.0.0:8080); default: [web] in the config")

    web = sub.add_parser("web", help="serve the web app and API from the data directory (no cameras, no live view)")
    _common(web)
    web.add_argument("--web", metavar="[HOST:]PORT", help="where to listen (default: [web] host and port)")

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--data-dir", type=Path, help="the daemon's data directory")
    where.add_argument("--config", type=Path, help="TOML config file")
    user = sub.add_parser("user", help="accounts of the web app: add, list, passwd, remove")
    usub = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("add", "create an account (asks for its password)"), ("passwd", "set a new password"),
                         ("remove", "delete an account, its sessions and tokens")):
        a = usub.add_parser(action, help=text, parents=[where])
        a.add_argument("name")
        if action != "remove":
            a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    usub.add_parser("list", help="list accounts", parents=[where])

    token = sub.add_parser("token", help="API tokens (Home Assistant, scripts): create, list, revoke")
    tsub = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    tc = tsub.add_parser("create", help="make a token for an account; it is shown once", parents=[where])
    tc.add_argument("--user", required=True, help="the account the token acts as")
    tc.add_argument("--label", default="", help="what it is for (e.g. home-assistant)")
    tsub.add_parser("list", help="list tokens (not their secrets)", parents=[where])
    tr = tsub.add_parser("revoke", help="revoke a token", parents=[where])
    tr.add_argument("id")

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

    sync = sub.add_parser("sync", help="[household] once: share this node's people on the MQTT broker, import the "
                          "other nodes' people and sightings (`run` does this all the time)")
    _common(sync)

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
    """The config file (if any) with the common flags on top; its profile (``--profile``, else the file's)
    is named but not yet applied (:meth:`Config.with_profile`)."""
    cfg = load_config(args.config) if getattr(args, "config", None) else Config()
    return cfg.with_overrides(**{"engine.name": getattr(args, "engine", None),
                                 "engine.detector": getattr(args, "detector", None),
                                 "engine.upsample": getattr(args, "upsample", None),
                                 "engine.embedder": getattr(args, "embedder", None),
                                 "profile": getattr(args, "profile", None)})


def _service(args: argparse.Namespace, cfg: Config) -> Service:
    return Service(cfg, data_dir(cfg, getattr(args, "data_dir", None)))


def cmd_run(args: argparse.Namespace, cfg: Config) -> int:
    limit_arenas()  # before any thread starts: two malloc arenas, not 8 per core (camera/malloc.py)
    map_large_blocks()  # freed frames, pyramids and activations go back to the system (camera/malloc.py)
    cfg = cfg.with_overrides(**{"matching.max_distance": args.max_distance, "alerts.jsonl": args.jsonl,
                                "alerts.cooldown_s": args.cooldown, "alerts.snapshots": args.snapshots})
    if args.loop and args.source is None:
        raise FacecamError("--loop plays --source over and over; give --source FILE_OR_FOLDER (or set "
                           "[cameras.NAME] loop = true)")
    if args.source is not None:
        cfg = cfg.with_cameras({args.camera: {"source": args.source, "fps_cap": args.fps_cap, "loop": args.loop}})
    elif args.fps_cap is not None:
        cfg = cfg.with_overrides(**{f"cameras.{n}.fps_cap": args.fps_cap for n in cfg.cameras})
    cfg = _with_web(cfg, args.web)
    if cfg.profile is not None:  # applied last, so that --source's camera gets the profile's camera keys too
        log.info("profile %s", _profile_summary(cfg))
        cfg = cfg.with_profile()
    if cfg.engine.threads is None and len(cfg.cameras) > 1:  # an inference thread per core (camera/pipeline.py)
        cfg = cfg.with_overrides(**{"engine.threads": session_threads(len(cfg.cameras))})
    root = data_dir(cfg, args.data_dir)
    engines = engines_for(root)
    live, feed = (LiveView(), AlertFeed()) if cfg.web.enabled else (None, None)
    try:
        lock = DataDirLock(root)
    except DirectoryLocked as exc:
        raise FacecamError(str(exc)) from None
    with lock, Gallery(root) as gallery, Service(cfg, root, engines).household() as household:
        pipeline = build_pipeline(cfg, root, gallery, engines=engines, extra_sinks=[feed] if feed else [],
                                  observers=[live] if live else [], household=household.remote if household else None)
        if household is not None:  # [household]: this node's sightings out, other nodes' people in while running
            household.attach(pipeline.visits.presence, pipeline)

        def _stop(signum: int, _frame: object) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            pipeline.stop_reason = "signal"
            pipeline.stop.set()

        old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
        status = StatusWriter(root, status_snapshot(pipeline))
        status.start()
        server = None
        try:
            if feed is not None:
                server = _serve_web(Service(cfg, root, engines), Accounts(root), cfg.web, feed, live, args.config)
            summary = pipeline.run()
        finally:
            if server is not None:
                server.stop()
            status.stop()
            for s, h in old.items():
                signal.signal(s, h)
    for name, st in summary.cameras.items():
        fps = st.frames / summary.wall_s if summary.wall_s else 0.0
        log.info("%s: %d frames (%.1f fps), %d faces, %d alerts, %d dropped, %d frame errors; detector ran on "
                 "%d frames, %d faces embedded, %d tracks, %d visits", name, st.frames, fps, st.faces, st.alerts,
                 summary.dropped.get(name, 0), st.errors, st.detected, st.embedded, st.tracks, st.events)
    if summary.event_failures or summary.delivery_failures:
        print(f"facecam: {summary.event_failures} event records and {summary.delivery_failures} alert deliveries "
              "failed (see the log above)", file=sys.stderr)
        return 1
    return 0


def cmd_web(args: argparse.Namespace, cfg: Config) -> int:
    """The web app without cameras: review, label and enrol from the data directory; alerts from the outbox."""
    cfg = _with_web(cfg, args.web)
    root = data_dir(cfg, args.data_dir)
    stop = threading.Event()
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server = _serve_web(Service(cfg, root), Accounts(root), cfg.web, OutboxTail(root / OUTBOX_DB), None,
                            args.config)
        print(f"facecam web app: {server.url} (Ctrl-C stops it)", file=sys.stderr)
        stop.wait()
        server.stop()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0


class _Serving(Protocol):
    """A started web server (:class:`camera.web.server.WebServer`) as the commands use it."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def _serve_web(service: Service, accounts: Accounts, cfg: WebConfig, alerts: AlertSource, live: LiveView | None,
               config_path: Path | None) -> _Serving:
    """Start the web app (:func:`camera.web.serve.serve`); the caller stops it."""
    # Imported here, not at the top: the web stack (fastapi, uvicorn, the app's routes) is ~14 MB of resident
    # memory that `facecam run` without a web app never uses (issue 15; tests/test_cli_imports.py).
    from camera.web.serve import serve

    return serve(service, accounts, cfg, alerts, live, config_path)


def _with_web(cfg: Config, listen: str | None) -> Config:
    """``cfg`` with ``--web [HOST:]PORT`` applied (it also turns the web app on)."""
    if listen is None:
        return cfg
    try:
        keys = parse_listen(listen)
    except ValueError as exc:
        raise FacecamError(str(exc)) from None
    return cfg.with_overrides(**{f"web.{k}": v for k, v in keys.items()})


def cmd_user(args: argparse.Namespace, cfg: Config) -> int:
    root = data_dir(cfg, args.data_dir)
    password = ""
    if args.action in ("add", "passwd"):  # a bad name or password is refused before the accounts file is opened
        check_user_name(args.name)
        password = check_password(_read_password(args.password_stdin))
    if args.action != "add" and not _has_accounts(root, args.action):
        return 0
    with Accounts(root) as accounts:
        if args.action == "list":
            names = accounts.users()
            if not names:
                print(f"no accounts in {root}; create one with `facecam user add NAME`", file=sys.stderr)
            for n in names:
                print(n)
        elif args.action == "remove":
            accounts.remove_user(args.name)
            print(f"removed account {args.name!r}")
        elif args.action == "add":
            accounts.add_user(args.name, password)
            print(f"added account {args.name!r}; log in at the web app ([web], or `facecam run --web 8080`)")
        else:
            accounts.set_password(args.name, password)
            print(f"password of {args.name!r} changed; its sessions ended")
    return 0


def _has_accounts(root: Path, action: str) -> bool:
    """Whether ``root`` has an accounts file. Only ``user add`` creates one, so a failing command leaves none
    behind: without it ``list`` says so (and lists nothing), any other action is an error."""
    if (root / ACCOUNTS_DB).is_file():
        return True
    if action != "list":
        raise FacecamError(f"no accounts in {root}; create one with `facecam user add NAME`")
    print(f"no accounts in {root}; create one with `facecam user add NAME`", file=sys.stderr)
    return False


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise FacecamError("no terminal to ask the password on: use --password-stdin")
    first = getpass.getpass("password: ")
    check_password(first)
    if getpass.getpass("again: ") != first:
        raise FacecamError("the two passwords differ; nothing changed")
    return first


def cmd_token(args: argparse.Namespace, cfg: Config) -> int:
    root = data_dir(cfg, args.data_dir)
    if not _has_accounts(root, args.action):
        return 0
    with Accounts(root) as accounts:
        if args.action == "create":
            token, secret = accounts.create_token(args.user, args.label)
            print(secret)
            print(f"token {token.id} for {token.user!r}: send it as `Authorization: Bearer <token>`; it is not "
                  "shown again", file=sys.stderr)
        elif args.action == "list":
            for tk in accounts.tokens():
                print(f"{tk.id}\t{tk.user}\t{_quoted(tk.label)}\tcreated {tk.created}\tlast used {tk.last_used or '-'}")
        else:
            accounts.revoke_token(args.id)
            print(f"revoked token {args.id}")
    return 0


def cmd_status(args: argparse.Namespace, cfg: Config) -> int:
    svc = _service(args, cfg)
    status = svc.status()
    print(format_status(status, svc.root))
    return 0 if status.alive else 1


def _print_outcomes(outcomes: Sequence[EnrolOutcome]) -> int:
    for o in outcomes:
        if o.status is EnrolStatus.SKIPPED:
            print(f"skipped   {_text(o.reason)}")
        else:
            reason = f" ({o.reason})" if o.reason else ""
            print(f"{o.status.value:9} {_text(o.person)}: {_text(str(o.path))}{reason}")
    ok = sum(o.ok for o in outcomes)
    print(f"{ok} of {len(outcomes)} photos enrolled", file=sys.stderr)
    return 0 if ok == len(outcomes) else 1


def cmd_enroll(args: argparse.Namespace, cfg: Config) -> int:
    if args.from_dir is None and (not args.name or not args.photos):
        raise FacecamError("give NAME and at least one PHOTO, or --from-dir DIR")
    if args.from_dir is not None and (args.name or args.photos):
        raise FacecamError("--from-dir takes the names from DIR/NAME/; give no NAME or PHOTO with it")
    svc = _service(args, cfg)
    outcomes = svc.enroll_dir(args.from_dir) if args.from_dir is not None else svc.enroll(args.name, args.photos)
    status = _print_outcomes(outcomes)
    holder = DataDirLock.holder(svc.root)  # enrolling beside a running daemon is safe; it reads the gallery at start
    if holder is not None and any(o.ok for o in outcomes):
        when = "within seconds, and shares them with the household" if cfg.household else "from its next start"
        print(f"{holder} uses {svc.root}: it recognises the photos enrolled now {when}", file=sys.stderr)
    elif cfg.household is not None and any(o.ok for o in outcomes):
        try:
            _print_sync(svc.sync_household())
        except FacecamError as exc:  # enrolled all the same; `facecam run` or `facecam sync` shares them later
            print(f"facecam: warning: {one_line(str(exc))}", file=sys.stderr)
    return status


def cmd_sync(args: argparse.Namespace, cfg: Config) -> int:
    """``[household]`` once: publish this node's people, import the other nodes' people and sightings."""
    _print_sync(_service(args, cfg).sync_household())
    return 0


def _print_sync(stats: SyncStats) -> None:
    print(f"household: {stats.published} records of this node published or withdrawn; {stats.imported} photos "
          f"imported, {stats.removed} removed, {stats.refused} messages refused, {stats.sightings} sightings",
          file=sys.stderr)


def cmd_people(args: argparse.Namespace, cfg: Config) -> int:
    svc = _service(args, cfg)
    if args.action in (None, "list"):
        rows = svc.people()
        if not rows:
            print(f"no one is enrolled in {svc.root}", file=sys.stderr)
        for p in rows:
            print(f"{_quoted(p.name)}\t{p.photos} photos\t{p.embeddings} embeddings\t{', '.join(p.models)}")
    elif args.action == "rename":
        svc.rename(args.old, args.new)
        print(f"renamed {validate_name(args.old)!r} to {validate_name(args.new)!r}")
    elif args.action == "remove":
        n = svc.remove(args.name)
        print(f"removed {validate_name(args.name)!r} and {n} photos")
    elif args.action == "rebuild":
        return _print_outcomes(svc.rebuild())
    return 0


def cmd_events(args: argparse.Namespace, cfg: Config) -> int:
    svc = _service(args, cfg)
    for p in svc.presence():
        state = "home since" if p.home else "away since"
        where = p.camera if p.node is None else f"{p.camera} (node {p.node})"
        print(f"{_quoted(p.person)}\t{state} {p.since:%Y-%m-%d %H:%M:%S}Z\t"
              f"last seen {p.last_seen:%Y-%m-%d %H:%M:%S}Z on {where}")
    rows = svc.events(args.limit, args.person)
    if not rows:
        print(f"no events in {svc.root}", file=sys.stderr)
    for e in rows:
        dist = "-" if e.distance is None else f"{e.distance:.3f}"
        print(f"{e.id}\t{e.start:%Y-%m-%d %H:%M:%S}Z\t{(e.end - e.start).total_seconds():.1f} s\t{e.camera}\t"
              f"{_quoted(e.person)}\t{dist}\t{e.snapshot or '-'}")
    return 0


def cmd_label(args: argparse.Namespace, cfg: Config) -> int:
    if args.name is None and args.not_name is None:
        raise FacecamError("give NAME (enrol the event's face as NAME) or --not NAME (it is not NAME)")
    for n in (args.name, args.not_name):
        if n is not None:
            validate_name(n)
    svc = _service(args, cfg)
    status = 0
    if args.not_name is not None:
        out = svc.label_not(args.event, args.not_name)
        print(f"event {out.event.id}: {len(out.event.vectors)} faces stored as not {validate_name(args.not_name)!r} "
              f"({out.negatives_added} new)")
    if args.name is not None:
        out = svc.label(args.event, args.name)
        status = _print_outcomes([out.enrolled] if out.enrolled else [])
    return status


def cmd_calibrate(args: argparse.Namespace, cfg: Config) -> int:
    if not 0.0 < args.target_far < 1.0:
        raise FacecamError(f"--target-far: expected a value between 0 and 1, got {args.target_far}")
    rec, model_id, default_t = calibrate_gallery(data_dir(cfg, args.data_dir), cfg, args.target_far,
                                                 args.negatives_dir)
    print("\n".join(describe(rec, model_id, default_t)))
    if args.write is not None:
        set_max_distance(args.write, rounded(rec.max_distance))
        print(f"wrote [matching] max_distance = {rounded(rec.max_distance):.4f} to {args.write}")
    return 0


def cmd_check_config(args: argparse.Namespace, cfg: Config) -> int:
    cfg = load_config(args.file)
    profile = ""
    if cfg.profile is not None:
        profile = f"; profile {_profile_summary(cfg)}"
        cfg = cfg.with_profile()
    print(f"{args.file}: OK ({len(cfg.cameras)} cameras, engine {cfg.engine.name}, "
          f"detector {cfg.engine.resolved(model_dir(data_dir(cfg))).detector_name}{profile})")
    return 0


def _profile_summary(cfg: Config) -> str:
    """``cfg``'s profile before it is applied, on one line: its name, the keys it sets, and the keys the
    config sets itself instead (those win)."""
    applied = cfg.profile_settings()
    own = [k for k in cfg.profile_keys() if k not in applied]
    sets = ", ".join(f"{k} = {v!r}" for k, v in applied.items()) or "nothing"
    return f"{cfg.profile} sets {sets}" + (f" (the config's own {', '.join(own)} kept)" if own else "")


def cmd_demo(args: argparse.Namespace, cfg: Config) -> int:
    with tempfile.TemporaryDirectory(prefix="facecam-demo-") as tmp:
        root = args.data_dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        photo = demo_photo()
        print(f"1. enrolling {DEMO_PERSON} from {photo}", file=sys.stderr)
        engines = engines_for(root)
        with Gallery(root) as gallery:
            outcomes = enroll_photos(gallery, engines.enrolment(cfg.engine), DEMO_PERSON, [photo])
            if not all(o.ok for o in outcomes):
                raise FacecamError(f"demo enrolment failed: {outcomes[0].reason}")
            clip = render_clip(load_image(photo), root / "demo_clip.mp4")
            print(f"2. rendered a {clip.stat().st_size // 1024} KiB test clip: {clip}", file=sys.stderr)
            print("3. running capture → detect → embed → match → alerts on it; alerts:", file=sys.stderr)
            cfg = cfg.with_cameras({"demo": {"source": str(clip)}})
            seen = MemorySink()
            pipeline = build_pipeline(cfg, root, gallery, sinks=[JsonlSink("-"), seen], engines=engines)
            summary = pipeline.run()
    st = summary.cameras["demo"]
    alerts = seen.alerts
    named = sum(a.person == DEMO_PERSON for a in alerts)
    print(f"done: {st.frames} frames, {st.faces} faces, {len(alerts)} alerts, {named} naming "
          f"{DEMO_PERSON}, in {summary.wall_s:.1f} s", file=sys.stderr)
    return 0 if named else 1


COMMANDS: dict[str, Callable[[argparse.Namespace, Config], int]] = {
    "run": cmd_run, "enroll": cmd_enroll, "people": cmd_people, "check-config": cmd_check_config,
    "demo": cmd_demo, "status": cmd_status, "events": cmd_events, "label": cmd_label, "calibrate": cmd_calibrate,
    "web": cmd_web, "user": cmd_user, "token": cmd_token, "sync": cmd_sync}


def _text(s: str) -> str:
    """A name, path or reason as it is when printable, else as a Python literal (no raw escapes or newlines)."""
    return s if s.isprintable() else repr(s)


def _quoted(name: str) -> str:
    """A name in a tab-separated listing: always JSON-quoted, every character :func:`one_line` would escape
    (C0 and C1 controls, bidi overrides, line separators) as a JSON ``\\uXXXX`` escape."""
    text = json.dumps(name, ensure_ascii=False)
    return text if one_line(text) == text else "".join(c if one_line(c) == c else json.dumps(c)[1:-1] for c in text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.umask(0o077)  # what facecam creates (faces, embeddings, secrets) is its owner's only
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if argv and argv[0] == "evaluate":
        return evaluate_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(LogFilter())
    try:
        cfg = Config() if args.command == "check-config" else _config(args)
        level = logging.DEBUG if getattr(args, "verbose", False) else LOG_LEVELS[cfg.log_level]
        logging.getLogger().setLevel(level)
        if args.command != "run":  # `run` applies the profile itself, once its flags have added cameras
            cfg = cfg.with_profile()
        return COMMANDS[args.command](args, cfg)
    except USER_ERRORS as exc:
        print(f"facecam: error: {one_line(redact_text(str(exc)))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `facecam status | head -2`: the reader left; that is not an error
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so Python's exit flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
