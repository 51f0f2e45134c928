#!/usr/bin/env python3
"""What the daemon writes per hour: the real ``facecam run`` on a clip looping like a live camera.

    .venv/bin/python scripts/bench_writes.py [--minutes 5] [--modes snapshots,no-snapshots] [--profile pi4]
                                             [--json FILE]

For SD-card advice. Per mode, in a fresh data directory (on disk, under
``--work-dir``): it enrols the people of ``--identities`` with the real
``facecam enroll --from-dir`` (by default the hamilton clip's household from
``../shared/data``), writes a config with one camera playing ``--clip`` over
and over in real time (``[cameras.door] loop = true``) and alerts to a JSONL
file in the data directory (every alert also passes the outbox,
``outbox.sqlite3``), starts ``facecam run --config ...`` and, once its first
status file is written (models loaded, camera open), reads the daemon's
``/proc/PID/io`` and the data directory's size; ``--minutes`` later it reads
them again and stops the daemon with SIGTERM. The daemon's log goes to a
pipe this script reads, so it is counted apart (``log_bytes``), as journald
would store it, not in the daemon's own writes.

Modes (the settings each adds to the config):

- ``snapshots``: ``[alerts] snapshots = true``, each alert names its visit's
  snapshot;
- ``no-snapshots``: ``[alerts] snapshots = false`` (the default). That key
  only decides whether alerts carry the path: the visit log stores a
  snapshot and a face crop per visit either way;
- ``no-known-images``: ``[events] known_images = false``, no pictures of
  household members (unknown faces still get theirs): the setting that
  writes fewer pictures;
- ``idle``: as ``no-snapshots``, but the camera loops a clip of a still grey
  picture (made here, 10 s at 640x360): nobody at the door, what the daemon
  writes regardless.

Figures, per hour of the measured window: ``write_bytes`` (bytes the daemon
caused to be written to storage, from ``/proc/PID/io``, less its
``cancelled_write_bytes``), ``wchar`` and ``rchar`` (bytes passed to write
and read calls, page cache and pipes included), the data directory's
growth (allocated blocks; also per entry: the pictures under ``events/``, each
database, the other files; SQLite's write-ahead logs are left out of the
growth, since each is reused after a checkpoint and stops growing at a few
MB, which a short window would count as hourly growth: their size at the end
is shown instead), visits recorded (the status file's counter) and
alerts (lines added to the JSONL file). ``write_bytes`` counts file data the
process dirtied; the file system's own journal and the card's internal
write amplification come on top and are not measured here. The clip has a
face in view nearly all the time: a busy door, not an average one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from camera.status import read_daemon_status

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ageitgey+face_recognition"
DEFAULT_CLIP = DATA / "video" / "short_hamilton_clip.mp4"
DEFAULT_IDENTITIES = DATA / "identities"
#: mode -> the settings it adds to the config, per table
MODES: dict[str, dict[str, dict[str, bool]]] = {
    "snapshots": {"alerts": {"snapshots": True}},
    "no-snapshots": {"alerts": {"snapshots": False}},
    "no-known-images": {"alerts": {"snapshots": False}, "events": {"known_images": False}},
    "idle": {"alerts": {"snapshots": False}},
}
#: seconds the daemon gets to load models and open the camera, and to stop after SIGTERM
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
IO_KEYS = ("rchar", "wchar", "write_bytes", "cancelled_write_bytes")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0, help="measured minutes per mode (default 5)")
    p.add_argument("--modes", default="snapshots,no-snapshots", help=f"comma-separated, of: {', '.join(MODES)}")
    p.add_argument("--profile", help="a board profile for the daemon (config key `profile`)")
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="the video the camera loops")
    p.add_argument("--identities", type=Path, default=DEFAULT_IDENTITIES, help="DIR/NAME/*.jpg to enrol")
    p.add_argument("--work-dir", type=Path, help="where the data directories go (default: the system's temporary "
                   "directory; use a disk, not a tmpfs, or nothing is written to storage)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown or args.minutes <= 0:
        p.error(f"unknown modes {unknown}; choose from: {', '.join(MODES)}" if unknown else "--minutes must be > 0")
    results = {}
    for mode in modes:
        root = Path(tempfile.mkdtemp(prefix=f"facecam-writes-{mode}-", dir=args.work_dir))
        try:
            print(f"{mode}: {args.minutes:g} min in {root} ...", file=sys.stderr, flush=True)
            results[mode] = measure(mode, root, args)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(f"{mode}: {json.dumps(results[mode])}", flush=True)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=1) + "\n", encoding="utf-8")
    return 0 if all(r["exit_code"] == 0 for r in results.values()) else 1


def measure(mode: str, root: Path, args: argparse.Namespace) -> dict:
    """One mode: enrol, run the daemon, read its figures at the start and the end of the window."""
    enrol = subprocess.run([*_facecam(), "enroll", "--from-dir", str(args.identities), "--data-dir", str(root)],
                           capture_output=True, text=True)
    if enrol.returncode not in (0, 1):  # 1: some photos skipped (reported), the rest enrolled
        raise SystemExit(f"bench_writes: enrolment failed ({enrol.returncode}):\n{enrol.stderr}")
    config = root.parent / f"{root.name}.toml"  # beside the data directory, not in it
    clip = _still_clip(root.parent / f"{root.name}.mp4") if mode == "idle" else args.clip
    config.write_text(_config(root, clip, args.profile, MODES[mode]), encoding="utf-8")
    try:
        proc = subprocess.Popen([*_facecam(), "run", "--config", str(config)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        log = LogCounter(proc.stdout)
        log.start()
        try:
            start = _wait_running(proc, root)
            first = _reading(proc.pid, root, log)
            deadline = start + args.minutes * 60
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            if proc.poll() is not None:
                raise SystemExit(f"bench_writes: the daemon exited early ({proc.returncode}):\n{log.tail()}")
            last = _reading(proc.pid, root, log)
        finally:
            code = _stop(proc)
            log.join()
    finally:
        config.unlink(missing_ok=True)
        if clip != args.clip:
            clip.unlink(missing_ok=True)
    hours = (last["t"] - first["t"]) / 3600
    per_hour = {k: round((last[k] - first[k]) / hours) for k in (*IO_KEYS, "dir_bytes", "log_bytes")}
    per_hour["write_bytes_net"] = per_hour["write_bytes"] - per_hour["cancelled_write_bytes"]
    growth = {k: round((last["files"].get(k, 0) - first["files"].get(k, 0)) / hours)
              for k in sorted({*first["files"], *last["files"]}) if not _is_log(k)}
    return {"minutes": round(hours * 60, 2), "visits": last["visits"] - first["visits"],
            "dir_growth_per_hour": {k: v for k, v in growth.items() if v},
            "wal_bytes_at_end": {k: v for k, v in last["files"].items() if _is_log(k)},
            "alerts": last["alerts"] - first["alerts"], "frames": last["frames"] - first["frames"],
            "per_hour": per_hour, "exit_code": code}


def _config(root: Path, clip: Path, profile: str | None, settings: dict[str, dict[str, bool]]) -> str:
    """The daemon's TOML: ``settings``, alerts to DATA_DIR/alerts.jsonl, one camera looping ``clip``."""
    q = json.dumps  # a JSON string is a TOML basic string
    tables = {"alerts": {"jsonl": str(root / "alerts.jsonl")}}
    for table, keys in settings.items():
        tables.setdefault(table, {}).update(keys)
    lines = [*([f"profile = {q(profile)}"] if profile else []), f"data_dir = {q(str(root))}", ""]
    for table, keys in tables.items():
        lines += [f"[{table}]", *(f"{k} = {q(v)}" for k, v in keys.items()), ""]
    return "\n".join([*lines, "[cameras.door]", f"source = {q(str(clip))}", "loop = true", ""])


def _still_clip(path: Path) -> Path:
    """A 10 s, 640x360, 30 frames a second clip of one grey picture: no face, no motion."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 360))
    frame = np.full((360, 640, 3), 128, np.uint8)
    for _ in range(300):
        writer.write(frame)
    writer.release()
    return path


def _wait_running(proc: subprocess.Popen, root: Path) -> float:
    """Wait until the daemon's status file says it runs and has read a frame; the time it did."""
    give_up = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            raise SystemExit(f"bench_writes: the daemon exited at start-up ({proc.returncode})")
        status = read_daemon_status(root)
        if status.alive and sum(c.frames for c in status.cameras.values()) > 0:
            return time.monotonic()
        time.sleep(1.0)
    raise SystemExit(f"bench_writes: the daemon did not start within {START_TIMEOUT_S:.0f} s")


def _reading(pid: int, root: Path, log: LogCounter) -> dict:
    """The daemon's /proc/PID/io counters, the data directory's allocated bytes, and its counters now."""
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    status = read_daemon_status(root)
    files = _allocated(root)
    return {"t": time.monotonic(), **{k: int(io[k]) for k in IO_KEYS},
            "dir_bytes": sum(v for k, v in files.items() if not _is_log(k)), "files": files,
            "log_bytes": log.bytes, "visits": sum(c.visits for c in status.cameras.values()),
            "frames": sum(c.frames for c in status.cameras.values()), "alerts": _lines(root / "alerts.jsonl")}


def _allocated(root: Path) -> dict[str, int]:
    """Bytes allocated on disk (blocks, so a file's slack counts too) under each entry of ``root``: the
    pictures (``events/``), each database, each database's ``-wal`` and ``-shm`` files, the other files."""
    sizes: dict[str, int] = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            top = os.path.relpath(path, root).split(os.sep)[0]
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile (an atomic write's temporary file)
                sizes[top] = sizes.get(top, 0) + os.lstat(path).st_blocks * 512
    return sizes


def _is_log(name: str) -> bool:
    """An SQLite write-ahead log or its index: reused after each checkpoint, so its size has a ceiling."""
    return name.endswith(("-wal", "-shm"))


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


class LogCounter(threading.Thread):
    """Reads the daemon's log from its pipe: counts the bytes and keeps the last lines (for errors)."""

    def __init__(self, pipe) -> None:
        super().__init__(name="log-counter", daemon=True)
        self.pipe, self.bytes, self._tail = pipe, 0, []

    def run(self) -> None:
        for line in self.pipe:
            self.bytes += len(line)
            self._tail = [*self._tail[-19:], line.decode("utf-8", "replace")]

    def tail(self) -> str:
        return "".join(self._tail)


def _facecam() -> list[str]:
    """The installed ``facecam`` next to this Python, else ``python -m camera`` (the same entry point)."""
    exe = Path(sys.executable).with_name("facecam")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "camera"]


def _stop(proc: subprocess.Popen) -> int:
    """SIGTERM the daemon and wait for it (SIGKILL after :data:`STOP_TIMEOUT_S`); its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def print_table(results: dict[str, dict]) -> None:
    """One row per mode: MB (10^6 bytes) per hour, visits and alerts in the window."""
    print(f"\n{'mode':<16}{'min':>6}{'visits':>7}{'alerts':>7}{'write_bytes':>12}{'wchar':>9}{'rchar':>9}"
          f"{'dir growth':>11}{'log':>7}   (MB per hour)")
    for mode, r in results.items():
        h = r["per_hour"]
        print(f"{mode:<16}{r['minutes']:>6.1f}{r['visits']:>7}{r['alerts']:>7}{h['write_bytes_net'] / 1e6:>12.2f}"
              f"{h['wchar'] / 1e6:>9.2f}{h['rchar'] / 1e6:>9.2f}{h['dir_bytes'] / 1e6:>11.2f}"
              f"{h['log_bytes'] / 1e6:>7.2f}")
        parts = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in r["dir_growth_per_hour"].items())
        logs = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in r["wal_bytes_at_end"].items())
        print(f"{'':<16}growth by entry (MB per hour): {parts or 'none'}; write-ahead logs at the end (MB): "
              f"{logs or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
