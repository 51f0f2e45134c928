#!/usr/bin/env python3
"""Capacity and time to alert: the real daemon on N simulated live cameras, N raised until it falls behind.

    .venv/bin/python scripts/bench_capacity.py [--cameras 1,2,4,6,8,10,12] [--seconds 45] [--json FILE]
    .venv/bin/python scripts/bench_capacity.py --cameras 1,2,4 --keep-going --detect-interval-s 0.5 --detect-max-width 480
    .venv/bin/python scripts/bench_capacity.py --cameras 8 --stagger

What it runs: the hamilton clip from ``../shared/data``, re-encoded (OpenCV,
in a temporary directory) to ``--size`` at ``--fps`` (default 640x360 at
15 fps, every other frame of the 29.97 fps original), and lin_manuel_miranda
and alex_lacamoire enrolled with ``facecam enroll --from-dir`` into a fresh
data directory. For each N it starts ``facecam run --config C`` with N
cameras, each ``loop = true`` on the clip: a looping source plays it in real
time on its own clock and, being live, the capture worker drops frames
rather than queue them when inference is busy (``realtime`` defaults to yes
for a live source), which is what a real camera does. ``[alerts] cooldown_s``
is 0.5 s and ``[presence] away_after_s`` 1.5 s, so each of Lin's two appearances
in a pass of the ~9 s clip (the far shot from 0 s, the close-up from 2.73 s)
is a new visit on every camera and raises an alert (``arrived`` or
``recognised``); the first of each pass is the one timed. By default every
camera plays the clip from its first frame, so all of them see each
appearance at the same moment (the worst case: every camera has a new face
to decide on at once); with ``--stagger``, camera k of N plays a copy that
starts at frame k/N of the clip, so the appearances are spread over the
pass, as people walking past a house's cameras are. Alerts leave the outbox into a Unix-socket stream that
this script reads, stamping each line's arrival with the wall clock.

Ground truth, found once before the runs (:func:`first_in_view`): the
default engine's detector and embedder on every frame of the re-encoded
clip; Lin's face is *fully in view* in a frame when a face there is his
(distance to his enrolment photo at most the embedder's threshold), lies
wholly inside the frame, and has a quality of at least ``[tracking]
min_quality`` (the faces the tracker embeds and votes with). The first such
frame of each appearance (appearances apart by more than ``[tracking]
max_gap_s``) is its ground-truth frame, ``gt_s`` on the clip's clock.

Time to alert, per alert of Lin (the first per camera and pass):

- video: the alert's ``extra.video_time_s`` (the camera clock of the frame
  that decided it) minus the pass's ground-truth time ``j * period + gt_s``;
- wall: its arrival at the stream minus the wall time the capture worker
  delivered the ground-truth frame. A looping source is paced (frame at
  clock ``t`` is read at ``clock-0 wall + t``), and the alert's ``time`` is
  the wall time its deciding frame was captured, so that frame's delivery
  is ``alert.time - (video_time_s - gt_clock)``.

Expected alerts: the passes on each camera whose ground-truth frame was
delivered inside the measured window (after ``--warmup-s``, and at least
``SETTLE_S`` before the end); a camera's clock-0 wall time is the median of
``alert.time - video_time_s`` over its alerts (a camera with none counts
``window / period`` passes).

Capacity: N cameras pass when each processed at least ``--min-fps-share``
(default 95%) of its frames (from ``DATA_DIR/status.json``: frames and
dropped over the window), no expected alert is missing, and the 95th
percentile of the wall time to alert is at most ``--max-p95-s`` (1.0 s).
``det/s`` is how often the detector ran per camera and second (the
daemon's summary line at exit, over the whole run), and the clip line gives
the detector's median milliseconds a frame, timed during the ground-truth
pass: their product per camera is most of the daemon's work.
The runs stop at the first N that fails. Every row prints the machine's
load beside it: the daemon's CPU %, the other processes' CPU % (all busy
CPU time in ``/proc/stat`` minus the daemon's and this script's), and the
1-minute load average at the end, so a noisy run can be seen. Nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from camera.app import model_dir
from camera.engine import create_engine
from camera.imageio import load_image
from camera.status import read_daemon_status
from camera.track.config import TrackingConfig
from camera.track.quality import frame_qualities

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ageitgey+face_recognition"
DEFAULT_CLIP = DATA / "video" / "short_hamilton_clip.mp4"
DEFAULT_IDENTITIES = DATA / "identities"
PEOPLE = ("lin_manuel_miranda", "alex_lacamoire")
PERSON = "lin_manuel_miranda"
#: seconds before the end of a run in which a ground-truth frame is not expected to have alerted yet
SETTLE_S = 3.0
#: ``[presence] away_after_s``: at the tracker's ``max_gap_s`` (a break in one appearance's track longer than
#: that starts a new track anyway), below the ~2.1 s between Lin's appearances (the far shot ends at 0.7 s,
#: the close-up starts at 2.73 s and ends ~2.2 s before the next pass's far shot), so he leaves between them
AWAY_AFTER_S = 1.5
#: ``[alerts] cooldown_s``: a camera's new track of Lin within this long of its last visit of him continues
#: that visit; a visit ends when its track does (``max_gap_s`` after his last frame), so this must stay below
#: the ~0.7 s from then to his next appearance, or a camera that is not the first to see him on a pass (he is
#: home already) continues its old visit and raises nothing
COOLDOWN_S = 0.5
#: the daemon's summary line at exit, per camera: "...; detector ran on N frames, ..."
DETECTED = re.compile(r"detector ran on (\d+) frames")
#: seconds the daemon gets to load its models and show a frame on every camera
START_TIMEOUT_S = 120.0
#: seconds the daemon gets to stop after SIGTERM
STOP_TIMEOUT_S = 60.0


# ----- pure parts (tests/test_bench_capacity.py) -----------------------------------------------------------------


def first_in_view(in_view: list[bool], max_gap_frames: int) -> list[int]:
    """The first frame of each appearance: runs of ``True`` frames, two runs apart by at most ``max_gap_frames``
    frames being one appearance (the tracker keeps a track through such a gap)."""
    starts: list[int] = []
    last = None
    for k, ok in enumerate(in_view):
        if not ok:
            continue
        if last is None or k - last - 1 > max_gap_frames:
            starts.append(k)
        last = k
    return starts


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear between the nearest ranks (numpy's default);
    ``nan`` for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


#: seconds before a pass's ground-truth frame in which an alert still counts for that pass (a decision may lean
#: on a face the ground truth found not yet fully in view)
EARLY_S = 1.0


def pass_of(video_time_s: float, gt_s: float, period_s: float) -> int:
    """Which pass of the loop an alert at camera clock ``video_time_s`` belongs to: the last pass whose
    ground-truth time ``j * period_s + gt_s`` is at most ``EARLY_S`` after it (an alert follows its
    appearance, at any point of the pass: the person may stay in view for most of it)."""
    return math.floor((video_time_s - gt_s + EARLY_S) / period_s)


@dataclass(frozen=True)
class Latency:
    """One alert of the person: its camera and pass, and its time to alert in seconds."""

    camera: str
    loop: int
    video_s: float
    wall_s: float
    gt_wall: float


def latencies(alerts: list[dict], person: str, gt_s: float, period_s: float) -> tuple[list[Latency], int]:
    """The first alert of ``person`` per (camera, pass), with its times to alert, and how many more there were.

    ``alerts``: the stream's JSON payloads, each with ``arrived_wall`` (epoch seconds) added.
    """
    first: dict[tuple[str, int], Latency] = {}
    extra = 0
    for a in sorted(alerts, key=lambda a: a["arrived_wall"]):
        ctx = a.get("extra") or {}
        if a.get("person") != person or a.get("kind") == "left" or ctx.get("video_time_s") is None:
            continue
        v = float(ctx["video_time_s"])
        j = pass_of(v, gt_s, period_s)
        gt_clock = j * period_s + gt_s
        captured = dt.datetime.fromisoformat(str(a["time"]).replace("Z", "+00:00")).timestamp()
        gt_wall = captured - (v - gt_clock)
        key = (str(a["camera"]), j)
        if key in first:
            extra += 1
            continue
        first[key] = Latency(key[0], j, v - gt_clock, a["arrived_wall"] - gt_wall, gt_wall)
    return sorted(first.values(), key=lambda x: (x.camera, x.loop)), extra


def stagger_start(frames: int, cameras: int, k: int) -> int:
    """With ``--stagger``, the frame at which camera ``k`` (0-based) of ``cameras`` starts its copy of a clip of
    ``frames`` frames: the starts spread evenly over the clip."""
    return round(k * frames / cameras) % frames


def expected_passes(clock0_wall: float, gt_s: float, period_s: float, start: float, end: float) -> list[int]:
    """The passes whose ground-truth frame was delivered in the wall-time window ``[start, end]``."""
    lo = math.ceil((start - clock0_wall - gt_s) / period_s)
    hi = math.floor((end - clock0_wall - gt_s) / period_s)
    return list(range(max(lo, 0), hi + 1))


def verdict(fps_share: float, missing: int, p95_wall_s: float, min_fps_share: float, max_p95_s: float) -> str:
    """``pass``, or ``FAIL:`` and what failed."""
    why = []
    if not fps_share >= min_fps_share:
        why.append(f"processed {100 * fps_share:.0f}% of frames")
    if missing:
        why.append(f"{missing} alerts missing")
    if not p95_wall_s <= max_p95_s:
        why.append(f"p95 {p95_wall_s:.2f} s")
    return "pass" if not why else "FAIL: " + ", ".join(why)


# ----- the runs --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    cameras: int
    seconds: float
    fps_per_camera: float
    dropped_pct: float
    expected: int
    got: int
    extra_alerts: int
    detect_per_s: float
    video_median_s: float
    video_p95_s: float
    wall_median_s: float
    wall_p95_s: float
    daemon_cpu_pct: float
    others_cpu_pct: float
    load1: float
    verdict: str


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="facecam-capacity-"))
    try:
        return _bench(args, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cameras", default="1,2,4,6,8,10,12", help="camera counts to try, in order")
    p.add_argument("--seconds", type=float, default=45.0, help="measured seconds per count (default 45)")
    p.add_argument("--warmup-s", type=float, default=8.0, help="seconds after every camera's first frame "
                   "before measuring (default 8)")
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--identities", type=Path, default=DEFAULT_IDENTITIES)
    p.add_argument("--size", default="640x360", help="WxH of the re-encoded clip")
    p.add_argument("--fps", type=float, default=15.0, help="frame rate of the re-encoded clip")
    p.add_argument("--min-fps-share", type=float, default=0.95)
    p.add_argument("--max-p95-s", type=float, default=1.0)
    p.add_argument("--detect-interval-s", type=float,
                   help="[motion] detect_interval_s for the run (default: the daemon's, 0.2)")
    p.add_argument("--detect-max-width", type=int,
                   help="[engine] detect_max_width for the run (default: the engine's, 640)")
    p.add_argument("--stagger", action="store_true", help="camera k of N starts the clip at frame k/N (default: "
                   "every camera from frame 0, all seeing each appearance at once)")
    p.add_argument("--keep-going", action="store_true", help="run every count even after one fails")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (clip, data, daemon logs)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    return p


def _facecam() -> list[str]:
    exe = Path(sys.executable).with_name("facecam")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "camera"]


def _bench(args: argparse.Namespace, tmp: Path) -> int:
    width, height = (int(v) for v in args.size.lower().split("x"))
    clip = tmp / f"clip_{width}x{height}_{args.fps:g}fps.mp4"
    frames = make_clip(args.clip, clip, width, height, args.fps)
    period_s = frames / args.fps
    starts = sorted({stagger_start(frames, n, k) for n in (int(v) for v in args.cameras.split(","))
                     for k in range(n)}) if args.stagger else [0]
    clips = {s: clip if s == 0 else rotate_clip(clip, tmp / f"{clip.stem}_from{s}.mp4", s) for s in starts}
    people = tmp / "people"
    people.mkdir()
    for name in PEOPLE:
        (people / name).symlink_to((args.identities / name).resolve())
    root = tmp / "data"
    root.mkdir()
    enrol = subprocess.run([*_facecam(), "enroll", "--from-dir", str(people), "--data-dir", str(root)],
                           capture_output=True, text=True)
    if enrol.returncode not in (0, 1):
        print(f"bench_capacity: enrolment failed ({enrol.returncode}):\n{enrol.stderr}", file=sys.stderr)
        return 2
    gt, detect_ms = ground_truth(clip, args.identities / PERSON, root)
    print(f"clip: {frames} frames at {width}x{height}, {args.fps:g} fps, a pass every {period_s:.2f} s; "
          f"{PERSON} fully in view first at frames {gt} (t = {', '.join(f'{k / args.fps:.2f}' for k in gt)} s); "
          f"detector {detect_ms:.0f} ms a frame (median, offline); cores {os.cpu_count()}, load average {_load()}")
    if not gt:
        print("bench_capacity: no ground-truth frame found", file=sys.stderr)
        return 2
    if args.stagger:
        print("staggered: camera k of N starts at frame k/N of the clip", flush=True)
    print(f"{'cams':>4} {'fps/cam':>7} {'drop%':>5} {'alerts':>7} {'extra':>5} {'det/s':>5} {'video med/p95 s':>15} "
          f"{'wall med/p95 s':>14} {'daemon%':>7} {'other%':>6} {'load1':>5}  verdict", flush=True)
    rows: list[Row] = []
    for n in (int(v) for v in args.cameras.split(",")):
        sources = {f"cam{k + 1}": (clips[s], ((gt[0] - s) % frames) / args.fps)
                   for k, s in enumerate(stagger_start(frames, n, k) if args.stagger else 0 for k in range(n))}
        row = run_one(n, sources, root, period_s, args)
        rows.append(row)
        print(f"{row.cameras:4d} {row.fps_per_camera:7.1f} {row.dropped_pct:5.1f} {row.got:3d}/{row.expected:<3d} "
              f"{row.extra_alerts:5d} {row.detect_per_s:5.1f} {row.video_median_s:7.2f}/{row.video_p95_s:<7.2f} "
              f"{row.wall_median_s:6.2f}/{row.wall_p95_s:<7.2f} {row.daemon_cpu_pct:7.0f} "
              f"{row.others_cpu_pct:6.0f} {row.load1:5.2f}  {row.verdict}", flush=True)
        if row.verdict != "pass" and not args.keep_going:
            break
    passed = [r.cameras for r in rows if r.verdict == "pass"]
    print(f"cameras per box at {width}x{height} {args.fps:g} fps: {max(passed) if passed else 0} "
          f"(p95 wall time to alert <= {args.max_p95_s:g} s, >= {100 * args.min_fps_share:.0f}% of frames "
          "processed, no alert missing)")
    if args.json is not None:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "gt_frames": gt,
                                         "detect_ms": detect_ms,
                                         "rows": [asdict(r) for r in rows]}, indent=1), encoding="utf-8")
    return 0


def make_clip(src: Path, dst: Path, width: int, height: int, fps: float) -> int:
    """Re-encode ``src`` to ``width`` x ``height`` at ``fps`` (the nearest source frame for each output frame);
    the number of frames written."""
    cap = cv2.VideoCapture(str(src))
    src_fps = cap.get(cv2.CAP_PROP_FPS) or fps
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    k = written = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if round(written * src_fps / fps) == k:
            out.write(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
                      if bgr.shape[:2] != (height, width) else bgr)
            written += 1
        k += 1
    cap.release()
    out.release()
    return written


def rotate_clip(src: Path, dst: Path, start: int) -> Path:
    """``src`` re-encoded from frame ``start``, its frames before that appended at the end (the same loop,
    another starting point); returns ``dst``."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for bgr in frames[start:] + frames[:start]:
        out.write(bgr)
    out.release()
    return dst


def ground_truth(clip: Path, person_dir: Path, root: Path) -> tuple[list[int], float]:
    """The first frame of each appearance of the person fully in view (see the module docstring), and the
    detector's median milliseconds a frame meanwhile (on this machine, at its present load)."""
    engine = create_engine("onnx", model_dir=model_dir(root))
    refs = []
    for photo in sorted(person_dir.iterdir()):
        rgb = load_image(photo)
        dets = engine.detector.detect(rgb)
        if len(dets):
            refs.append(engine.embedder.embed(rgb, dets).vectors)
    ref = np.concatenate(refs)
    tracking = TrackingConfig()
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS)
    in_view: list[bool] = []
    detect_ms: list[float] = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        h, w = rgb.shape[:2]
        t = time.perf_counter()
        dets = engine.detector.detect(rgb)
        detect_ms.append(1000 * (time.perf_counter() - t))
        seen = False
        if len(dets):
            vectors = engine.embedder.embed(rgb, dets).vectors
            qualities = frame_qualities(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dets)
            for box, vec, q in zip(dets.xyxy, vectors, qualities, strict=True):
                x1, y1, x2, y2 = (float(v) for v in box)
                mine = float(np.min(np.linalg.norm(ref - vec, axis=1))) <= engine.embedder.default_max_distance
                inside = x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h
                seen = seen or (mine and inside and q.value >= tracking.min_quality)
        in_view.append(seen)
    cap.release()
    return first_in_view(in_view, int(tracking.max_gap_s * fps)), percentile(detect_ms, 50)


def run_one(n: int, sources: dict[str, tuple[Path, float]], root: Path, period_s: float,
            args: argparse.Namespace) -> Row:
    """The daemon on ``n`` cameras for the warm-up and ``args.seconds``; its row. ``sources``: camera name ->
    (its clip, the ground-truth time on that clip's clock)."""
    for stale in ("status.json", "events.sqlite3"):
        (root / stale).unlink(missing_ok=True)
    sock = root / f"events-{n}.sock"
    config = root / f"capacity-{n}.toml"
    config.write_text(_config(root, {c: s[0] for c, s in sources.items()}, sock, args.detect_interval_s,
                              args.detect_max_width), encoding="utf-8")
    reader = StreamReader(sock)
    with (root / f"daemon-{n}.log").open("w", encoding="utf-8") as log:
        proc = subprocess.Popen([*_facecam(), "run", "--config", str(config)], stdout=log, stderr=log)
        reader.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while proc.poll() is None and not _all_running(root, n) and time.monotonic() < deadline:
                time.sleep(0.5)
            running = time.time()
            time.sleep(args.warmup_s)
            s0, cpu0, busy0, own0, t0 = read_daemon_status(root), _cpu_s(proc.pid), _busy_s(), time.process_time(), time.time()
            time.sleep(args.seconds)
            s1, cpu1, busy1, own1, t1 = read_daemon_status(root), _cpu_s(proc.pid), _busy_s(), time.process_time(), time.time()
            load1 = os.getloadavg()[0]
            time.sleep(1.0)  # alerts of the window's last decisions still on their way
        finally:
            _stop(proc)
            stopped = time.time()
            reader.stop()
    wall = t1 - t0
    detected = sum(int(m) for m in DETECTED.findall((root / f"daemon-{n}.log").read_text(encoding="utf-8")))
    frames = sum(c.frames for c in s1.cameras.values()) - sum(c.frames for c in s0.cameras.values())
    dropped = sum(c.dropped for c in s1.cameras.values()) - sum(c.dropped for c in s0.cameras.values())
    status_wall = wall - (s1.age_s or 0.0) + (s0.age_s or 0.0)
    fps = frames / status_wall / n if status_wall > 0 else 0.0
    lat: list[Latency] = []
    extra = 0
    for cam, (_, gt_s) in sources.items():
        mine, more = latencies([a for a in reader.alerts if a.get("camera") == cam], PERSON, gt_s, period_s)
        lat += mine
        extra += more
    clock0: dict[str, float] = {}
    for cam in {x.camera for x in lat}:
        gt_s = sources[cam][1]
        clock0[cam] = float(np.median([x.gt_wall - x.loop * period_s - gt_s for x in lat if x.camera == cam]))
    expected = got = 0
    in_window: list[Latency] = []
    for cam, (_, gt_s) in sources.items():
        if cam not in clock0:
            expected += max(int((wall - SETTLE_S) / period_s), 0)
            continue
        passes = set(expected_passes(clock0[cam], gt_s, period_s, t0, t1 - SETTLE_S))
        expected += len(passes)
        mine = [x for x in lat if x.camera == cam and x.loop in passes]
        got += len(mine)
        in_window += mine
    wall_s = [x.wall_s for x in in_window]
    video_s = [x.video_s for x in in_window]
    p95 = percentile(wall_s, 95)
    share = fps / args.fps
    return Row(n, round(wall, 1), round(fps, 2), round(100 * dropped / max(frames + dropped, 1), 1), expected, got,
               extra, round(detected / n / (stopped - running), 2), round(percentile(video_s, 50), 2),
               round(percentile(video_s, 95), 2),
               round(percentile(wall_s, 50), 2), round(p95, 2), round(100 * (cpu1 - cpu0) / wall, 0),
               round(100 * ((busy1 - busy0) - (cpu1 - cpu0) - (own1 - own0)) / wall, 0), round(load1, 2),
               verdict(share, expected - got, p95, args.min_fps_share, args.max_p95_s))


def _config(root: Path, clips: dict[str, Path], sock: Path, detect_interval_s: float | None = None,
            detect_max_width: int | None = None) -> str:
    """N looping cameras; every pass of the clip a new visit (short cooldown and away time); the stream sink;
    the detector settings given (else the defaults)."""
    q = json.dumps
    lines = [f"data_dir = {q(str(root))}", "", "[alerts]", f"cooldown_s = {COOLDOWN_S}", "", "[alerts.stream]",
             f"path = {q(str(sock))}", "", "[presence]", f"away_after_s = {AWAY_AFTER_S}", ""]
    if detect_interval_s is not None:
        lines += ["[motion]", f"detect_interval_s = {detect_interval_s}", ""]
    if detect_max_width is not None:
        lines += ["[engine]", f"detect_max_width = {detect_max_width}", ""]
    for cam, clip in clips.items():
        lines += [f"[cameras.{cam}]", f"source = {q(str(clip))}", "loop = true", ""]
    return "\n".join(lines)


def _all_running(root: Path, n: int) -> bool:
    cams = read_daemon_status(root).cameras
    return len(cams) >= n and all(c.frames > 0 for c in cams.values())


class StreamReader:
    """Reads the daemon's alert stream (a Unix socket client); each alert with its arrival wall time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.alerts: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(str(self.path))
                    s.settimeout(0.5)
                    buf = b""
                    while not self._stop.is_set():
                        try:
                            data = s.recv(1 << 16)
                        except TimeoutError:
                            continue
                        if not data:
                            break
                        now = time.time()
                        buf += data
                        *lines, buf = buf.split(b"\n")
                        for line in lines:
                            if line.strip():
                                self.alerts.append({**json.loads(line), "arrived_wall": now})
            except OSError:
                pass
            self._stop.wait(0.2)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _busy_s() -> float:
    """CPU seconds all processors have been busy since boot (``/proc/stat``: everything but idle and iowait)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
