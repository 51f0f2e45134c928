#!/usr/bin/env python3
"""Soak test: the real daemon on N looping cameras for M minutes, its memory and handles watched.

    .venv/bin/python scripts/soak.py --cameras 4 --minutes 30 [--data-dir D] [--json soak.json]
    .venv/bin/python scripts/soak.py --cameras 2 --minutes 6 --baseline-min 2 --interval-s 30   # a short look

What it runs: it enrols the people of ``--identities`` into a fresh data
directory with the real ``facecam enroll --from-dir`` (by default the
hamilton clip's household from ``../shared/data``), writes a config with N
cameras, each playing ``--clip`` over and over in real time like a live
camera (``[cameras.NAME] loop = true``), and alert sinks that exercise the
whole alert path locally (the outbox is always in front of them): a JSONL
file, a Unix-socket stream with this script reading it, and a command sink
running ``true`` per alert. Then it starts ``facecam run --config ...`` as
a subprocess (daemon log in ``DATA_DIR/daemon.log``), stops it with SIGTERM
at the end and reports its exit status.

What it measures, one row every ``--interval-s`` seconds (polled every few
seconds for the extremes): elapsed minutes; the daemon's RSS and PSS in MB
(``/proc/PID/status``, ``/proc/PID/smaps_rollup``); open file descriptors
(``/proc/PID/fd``) and threads (``/proc/PID/task``); the queue lengths the
daemon exposes (``DATA_DIR/status.json``: dropped frames and problems, and
each sink's queued alerts in the outbox, through
:func:`camera.status.read_daemon_status`); frames per second over the
interval (all cameras); alerts in the interval (lines added to the JSONL
file, and lines the stream client read).

The summary: RSS growth from the ``--baseline-min`` mark (5 minutes: model
loading, onnxruntime's arenas and the first visits have settled by then) to
the end, in % and in KB/s (end points, and a least-squares slope over the
samples after the mark), peak RSS, fds and threads min-max, and a verdict
against the target: RSS growth after the first 5 minutes under 2%. It only
prints what it measured: nothing here asserts a time or fails a run;
timings depend on the machine and its load. ``--malloc-arena-max N`` runs
the daemon with ``MALLOC_ARENA_MAX=N`` (glibc), to compare allocator
behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
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

from camera.status import read_daemon_status

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ageitgey+face_recognition"
DEFAULT_CLIP = DATA / "video" / "short_hamilton_clip.mp4"
DEFAULT_IDENTITIES = DATA / "identities"
#: RSS growth after the baseline mark that meets the target, percent
TARGET_GROWTH_PCT = 2.0
#: seconds between polls of /proc (for the extremes between rows)
POLL_S = 5.0
#: seconds the daemon gets to stop after SIGTERM
STOP_TIMEOUT_S = 60.0


@dataclass
class Sample:
    """One look at the daemon: sizes in MiB (1024² bytes), times in seconds since it started; ``frames`` is the
    status file's count, written ``frames_at_s`` (status.json is rewritten every few seconds)."""

    elapsed_s: float
    rss_mb: float
    pss_mb: float | None
    fds: int
    threads: int
    frames: int
    frames_at_s: float
    dropped: int
    sink_queued: int
    problems: int
    alerts_jsonl: int
    alerts_stream: int


@dataclass
class Row:
    """One printed row: a sample and the rates over the interval before it."""

    sample: Sample
    fps: float
    alerts: int
    stream_alerts: int


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="facecam-soak-"))
    try:
        return _soak(args, root)
    finally:
        if args.data_dir is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cameras", type=int, default=2, help="looping cameras (default 2)")
    p.add_argument("--minutes", type=float, default=10.0, help="how long the daemon runs (default 10)")
    p.add_argument("--data-dir", type=Path, help="data directory (default: a temporary one, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory (and its daemon.log)")
    p.add_argument("--json", type=Path, help="also write the samples and the summary here")
    p.add_argument("--interval-s", type=float, default=60.0, help="seconds between rows (default 60)")
    p.add_argument("--baseline-min", type=float, default=5.0,
                   help="growth is measured from this mark to the end (default 5 minutes)")
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="the video every camera loops")
    p.add_argument("--identities", type=Path, default=DEFAULT_IDENTITIES, help="DIR/NAME/*.jpg to enrol")
    p.add_argument("--cooldown-s", type=float, default=10.0,
                   help="[alerts] cooldown_s: lower raises more alerts (default 10)")
    p.add_argument("--malloc-arena-max", type=int, help="run the daemon with MALLOC_ARENA_MAX set to this")
    return p


def _facecam() -> list[str]:
    """The installed ``facecam`` next to this Python, else ``python -m camera`` (the same entry point)."""
    exe = Path(sys.executable).with_name("facecam")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "camera"]


def _soak(args: argparse.Namespace, root: Path) -> int:
    if args.cameras < 1 or args.minutes <= 0 or args.interval_s <= 0:
        print("soak: --cameras, --minutes and --interval-s must be positive", file=sys.stderr)
        return 2
    for path in (args.clip, args.identities):
        if not path.exists():
            print(f"soak: {path} does not exist", file=sys.stderr)
            return 2
    root.mkdir(parents=True, exist_ok=True)
    enrol = subprocess.run([*_facecam(), "enroll", "--from-dir", str(args.identities), "--data-dir", str(root)],
                           capture_output=True, text=True)
    if enrol.returncode not in (0, 1):  # 1: some photos skipped (reported), the rest enrolled
        print(f"soak: enrolment failed ({enrol.returncode}):\n{enrol.stderr}", file=sys.stderr)
        return 2
    config = root / "soak.toml"
    config.write_text(_config(root, args.clip, args.cameras, args.cooldown_s), encoding="utf-8")
    env = dict(os.environ)
    if args.malloc_arena_max is not None:
        env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
    print(f"soak: {args.cameras} cameras looping {args.clip.name} for {args.minutes:g} min, data in {root}, "
          f"MALLOC_ARENA_MAX={env.get('MALLOC_ARENA_MAX', 'unset')}; cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    with (root / "daemon.log").open("w", encoding="utf-8") as log:
        proc = subprocess.Popen([*_facecam(), "run", "--config", str(config)], stdout=log, stderr=log, env=env)
        reader = StreamReader(root / "events.sock")
        reader.start()
        try:
            rows, extremes = _watch(proc, root, args, reader)
        finally:
            reader.stop()
            code = _stop(proc)
    summary = _summary(rows, extremes, args.baseline_min * 60, code)
    _print_summary(summary)
    if args.json is not None:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": [asdict(r) for r in rows], "summary": summary}, indent=1),
                             encoding="utf-8")
    return 0 if code == 0 and rows else 1


def _config(root: Path, clip: Path, cameras: int, cooldown_s: float) -> str:
    """The daemon's TOML: N looping cameras, and sinks behind the outbox that all stay on this machine."""
    q = json.dumps  # a JSON string is a TOML basic string
    lines = [f"data_dir = {q(str(root))}", "", "[alerts]", f"jsonl = {q(str(root / 'alerts.jsonl'))}",
             f"cooldown_s = {cooldown_s}", "", "[alerts.stream]", f"path = {q(str(root / 'events.sock'))}", "",
             "[[alerts.command]]", 'argv = ["true", "{person}", "{camera}"]', ""]
    for i in range(1, cameras + 1):
        lines += [f"[cameras.cam{i}]", f"source = {q(str(clip))}", "loop = true", ""]
    return "\n".join(lines)


def _watch(proc: subprocess.Popen, root: Path, args: argparse.Namespace,
           reader: StreamReader) -> tuple[list[Row], dict[str, float]]:
    """Sample until the time is up (or the daemon dies, or Ctrl-C); print a row every interval."""
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    next_row = t0 + args.interval_s
    rows: list[Row] = []
    prev: Sample | None = None
    extremes = {"rss_max_mb": 0.0, "fds_min": float("inf"), "fds_max": 0.0, "threads_min": float("inf"),
                "threads_max": 0.0}
    print(f"{'min':>6} {'rss_mb':>8} {'pss_mb':>8} {'fds':>5} {'thr':>4} {'fps':>6} {'dropped':>8} "
          f"{'queued':>6} {'alerts':>6} {'stream':>6} {'probl':>5}")
    while True:
        now = time.monotonic()
        if proc.poll() is not None:
            print(f"soak: the daemon exited early with status {proc.returncode}; see {root / 'daemon.log'}",
                  file=sys.stderr)
            break
        s = _sample(proc.pid, root, now - t0, reader.lines)
        if s is not None and s.elapsed_s > 20:  # after start-up: models loaded, cameras opened
            extremes["rss_max_mb"] = max(extremes["rss_max_mb"], s.rss_mb)
            for k, v in (("fds", s.fds), ("threads", s.threads)):
                extremes[f"{k}_min"] = min(extremes[f"{k}_min"], v)
                extremes[f"{k}_max"] = max(extremes[f"{k}_max"], v)
        if s is not None and (now >= next_row or now >= end):
            dt_s = s.frames_at_s - (prev.frames_at_s if prev else 0.0)
            row = Row(s, (s.frames - (prev.frames if prev else 0)) / dt_s if dt_s > 0 else 0.0,
                      s.alerts_jsonl - (prev.alerts_jsonl if prev else 0),
                      s.alerts_stream - (prev.alerts_stream if prev else 0))
            rows.append(row)
            prev = s
            print(f"{s.elapsed_s / 60:6.2f} {s.rss_mb:8.1f} {_opt(s.pss_mb):>8} {s.fds:5d} {s.threads:4d} "
                  f"{row.fps:6.1f} {s.dropped:8d} {s.sink_queued:6d} {row.alerts:6d} {row.stream_alerts:6d} "
                  f"{s.problems:5d}", flush=True)
            next_row += args.interval_s
        if now >= end:
            break
        try:
            time.sleep(max(0.0, min(POLL_S, next_row - time.monotonic(), end - time.monotonic())))
        except KeyboardInterrupt:
            print("soak: interrupted; stopping the daemon", file=sys.stderr)
            break
    return rows, extremes


def _sample(pid: int, root: Path, elapsed_s: float, stream_alerts: int) -> Sample | None:
    """The daemon's figures now; ``None`` when its /proc entry is gone."""
    proc = Path(f"/proc/{pid}")
    try:
        rss_kb = _kb(proc / "status", "VmRSS:")
        pss_kb = _kb(proc / "smaps_rollup", "Pss:")
        fds = len(os.listdir(proc / "fd"))
        threads = len(os.listdir(proc / "task"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    status = read_daemon_status(root)
    frames_at = elapsed_s - status.age_s if status.age_s is not None and status.age_s < elapsed_s else elapsed_s
    return Sample(elapsed_s, (rss_kb or 0) / 1024, None if pss_kb is None else pss_kb / 1024, fds, threads,
                  sum(c.frames for c in status.cameras.values()), frames_at,
                  sum(c.dropped for c in status.cameras.values()),
                  sum(s.queued for s in status.sinks), len(status.problems), _lines(root / "alerts.jsonl"),
                  stream_alerts)


def _kb(path: Path, key: str) -> int | None:
    """The ``key: N kB`` value of a /proc file, or ``None`` if it has none."""
    try:
        text = path.read_text()
    except PermissionError:
        return None
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return None


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 16), b""))
    except FileNotFoundError:
        return 0


class StreamReader:
    """Reads the daemon's alert stream (a Unix socket client), counting lines; reconnects if dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: lines (alerts) read so far
        self.lines = 0
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
                    s.settimeout(1.0)
                    while not self._stop.is_set():
                        try:
                            data = s.recv(1 << 16)
                        except TimeoutError:
                            continue
                        if not data:
                            break
                        self.lines += data.count(b"\n")
            except OSError:
                pass
            self._stop.wait(1.0)


def _stop(proc: subprocess.Popen) -> int:
    """SIGTERM the daemon and wait for it (SIGKILL after :data:`STOP_TIMEOUT_S`); its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"soak: the daemon did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM; killing it",
                  file=sys.stderr)
            proc.kill()
            proc.wait()
    return proc.returncode


def _summary(rows: list[Row], extremes: dict[str, float], baseline_s: float, exit_code: int) -> dict:
    """Growth from the first row at or after ``baseline_s`` to the last one, and the verdict."""
    out: dict = {"exit_code": exit_code, "rows": len(rows), **{k: (None if v in (0.0, float("inf")) else v)
                                                            for k, v in extremes.items()}}
    after = [r.sample for r in rows if r.sample.elapsed_s >= baseline_s - 1.0]
    if len(after) < 2:
        out.update(verdict=f"n/a: no two rows after the {baseline_s / 60:g}-minute mark (run longer)")
        return out
    a, b = after[0], after[-1]
    growth_pct = 100.0 * (b.rss_mb - a.rss_mb) / a.rss_mb
    out.update(baseline_min=round(a.elapsed_s / 60, 2), end_min=round(b.elapsed_s / 60, 2),
               rss_baseline_mb=round(a.rss_mb, 1), rss_end_mb=round(b.rss_mb, 1),
               rss_growth_pct=round(growth_pct, 2),
               rss_growth_kb_per_s=round((b.rss_mb - a.rss_mb) * 1024 / (b.elapsed_s - a.elapsed_s), 3),
               rss_slope_kb_per_s=round(_slope([(s.elapsed_s, s.rss_mb * 1024) for s in after]), 3),
               frames_per_s=round(sum(r.fps for r in rows) / len(rows), 1),
               alerts=rows[-1].sample.alerts_jsonl, stream_alerts=rows[-1].sample.alerts_stream,
               queued_end=b.sink_queued)
    if b.pss_mb is not None and a.pss_mb is not None:
        out["pss_growth_pct"] = round(100.0 * (b.pss_mb - a.pss_mb) / a.pss_mb, 2)
    met = growth_pct < TARGET_GROWTH_PCT
    out["verdict"] = (f"{'meets' if met else 'misses'} the target: RSS grew {growth_pct:+.2f}% from minute "
                      f"{a.elapsed_s / 60:.1f} to {b.elapsed_s / 60:.1f} (target: under {TARGET_GROWTH_PCT:g}%)")
    return out


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 with fewer than two distinct x)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def _print_summary(s: dict) -> None:
    print("summary:")
    for key, value in s.items():
        print(f"  {key}: {value}")


def _opt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


if __name__ == "__main__":
    sys.exit(main())
