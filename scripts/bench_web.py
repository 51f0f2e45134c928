#!/usr/bin/env python3
"""Benchmark: the web app's speed at scale, what the live view costs recognition, and its memory.

    .venv/bin/python scripts/bench_web.py [--events 100000] [--seconds 30] [--json FILE]

Prints measured figures; nothing here asserts on time. Every server is real and listens on 127.0.0.1.

1. Events at scale. A temporary data directory gets ``--events`` synthetic visits in the real event store
   (its schema made by :class:`camera.events.store.EventStore`, the rows bulk-inserted in one transaction:
   3 cameras, 3 names and ``unknown`` (40 %), start times over 60 days, one 128-d vector and 3 faces each;
   the unknown faces come from 50 recurring strangers, so the review page has groups to make), the 3
   named people enrolled (one photo each) and an account; ``facecam web`` serves it. Logged in with httpx, each request is timed ``--repeats`` times, the
   answer read whole, after one untimed warm-up: the API's event listing (first page, each filter, the
   ``next`` cursor followed 20 times, a page 90 % deep), one event, review groups, people, cameras, and
   the pages (``/``, ``/events`` with its filters, one event, review, people). Table: median and p95 in
   ms, and whether the median is at most 150 ms.
2. Live view cost. The daemon's parts built in this process as ``facecam run --web`` builds them
   (:func:`camera.app.build_pipeline`, :func:`camera.web.server.start_web`, the status writer) on the
   hamilton clip looped *unpaced* (``loop = true`` with ``realtime = false``: every frame
   decoded is processed, as fast as the machine allows, so frames per second measure the pipeline's
   capacity rather than the clip's 29.97 fps), lin_manuel_miranda enrolled. ``--seconds`` with no
   client, then with headless Chromium logged in and watching the real ``/live`` page, then with no
   client again; then (``--clients``) the same page's requests made by httpx, which draws nothing, and
   no client once more. ``--rounds K`` repeats the alternation, for a machine whose load varies. Each
   client runs in a process of its own, started before the first phase and idle (the browser on a
   blank page) while not watching. Per phase: processed fps, CPU (% of one core) of this process, of
   its web server threads (uvicorn's and its request workers), of the client's processes, and of
   everything else on the machine (other work there skews the fps: a warning says so). The drop per
   client is its mean fps against the mean without a client (target: at most 10 %). The browser shares
   this machine's two cores with the pipeline; at home it runs on a phone or a laptop, so the httpx
   client, which costs little CPU, shows what serving the live view itself takes.
3. Memory. Peak RSS (``os.wait4``'s ``ru_maxrss``) of ``facecam run`` on the clip (not looped), without
   and with ``--web 127.0.0.1:PORT``, and the difference (target: at most 40 MB); also what importing the
   web app's modules costs every ``facecam`` command (``camera.cli`` imports them).

Converted models are cached in ``$FACECAM_MODEL_DIR`` (default: a folder in the temporary directory, kept
between runs). Chromium is expected at /usr/bin/chromium (Debian's ``chromium`` package).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import select
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
from playwright.sync_api import sync_playwright

from camera.app import build_pipeline, engines_for, status_snapshot
from camera.config import Config
from camera.events.store import EVENTS_DB, EventStore
from camera.gallery.store import Gallery
from camera.service import Service
from camera.status import StatusWriter
from camera.web.accounts import Accounts
from camera.web.app import WebContext
from camera.web.feed import AlertFeed
from camera.web.live import LiveView
from camera.web.server import start_web

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ageitgey+face_recognition"
CLIP = DATA / "video" / "short_hamilton_clip.mp4"
PERSON = DATA / "identities" / "lin_manuel_miranda"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
USER, PASSWORD = "bench", "bench password 1234"
CAMERAS = ("door", "garden", "garage")
NAMES = ("lin_manuel_miranda", "alex_lacamoire", "obama")  # enrolled, so /people has last-seen times to find
#: clients of the live view, and the name of the phases they watch in
CLIENTS = ("browser", "http")
PHASE_NAMES = {"browser": "browser on /live", "http": "httpx on the live API"}
TARGET_MS = 150.0
TARGET_DROP = 10.0
TARGET_RSS_MB = 40.0
#: a request's repeats stop early once it has taken this long (a slow one still gets a few samples)
REQUEST_BUDGET_S = 30.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000, help="synthetic events in the store (default 100000)")
    p.add_argument("--repeats", type=int, default=30, help="timed requests of each kind (default 30)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each live-view phase (default 30)")
    p.add_argument("--rounds", type=int, default=1, help="live view: phases without and with the browser, "
                   "alternated this many times before the last phase without (default 1: without, with, without)")
    p.add_argument("--parts", default="events,live,memory", help="which parts to run (default: all three)")
    p.add_argument("--json", type=Path, help="write every figure here as JSON")
    p.add_argument("--clients", default=",".join(CLIENTS), help="live view: the clients to watch it, in turn: "
                   "browser (Chromium on /live), http (the page's requests from httpx, nothing drawn); default both")
    p.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)  # internal: be a client of --url
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("FACECAM_MODEL_DIR", str(Path(tempfile.gettempdir()) / f"facecam-bench-models-{os.getuid()}"))
    if args.client:
        run_client(args.client, args.url)
        return 0
    clients = tuple(c.strip() for c in args.clients.split(",") if c.strip())
    if not clients or set(clients) - set(CLIENTS):
        p.error(f"--clients: choose from {', '.join(CLIENTS)}")
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    unknown = parts - {"events", "live", "memory"}
    if unknown:
        p.error(f"--parts: unknown {sorted(unknown)}; choose from events, live, memory")
    results: dict[str, object] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with tempfile.TemporaryDirectory(prefix="facecam-bench-web-") as tmp:
        if "events" in parts:
            results["events"] = bench_events(Path(tmp) / "events", args.events, args.repeats)
        if "live" in parts or "memory" in parts:
            root = Path(tmp) / "clip"
            prepare_clip_data(root)
            if "live" in parts:
                results["live"] = bench_live(root, args.seconds, args.rounds, clients)
            if "memory" in parts:
                results["memory"] = bench_memory(root)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


# ----- 1. events at scale ---------------------------------------------------------------------------------------


def bench_events(root: Path, n: int, repeats: int) -> dict:
    """Fill a store with ``n`` events, serve it with ``facecam web`` and time the requests; prints the table."""
    print(f"\n## Events at scale: {n:,} events, {repeats} repeats per request\n", flush=True)
    t = time.perf_counter()
    make_events(root, n)
    fill_s = time.perf_counter() - t
    size_mb = (root / EVENTS_DB).stat().st_size / 1e6
    for name in NAMES:
        facecam("enroll", "--data-dir", str(root), name, str(sorted((DATA / "identities" / name).iterdir())[0]))
    with Accounts(root) as accounts:
        accounts.add_user(USER, PASSWORD)
    print(f"store filled in {fill_s:.1f} s ({size_mb:.0f} MB); {', '.join(NAMES)} enrolled", flush=True)
    db = sqlite3.connect(root / EVENTS_DB)
    ids = [r[0] for r in db.execute("SELECT id FROM events ORDER BY random() LIMIT ?", (repeats + 1,))]
    deep = db.execute("SELECT start_time, id FROM events ORDER BY start_time DESC, id DESC LIMIT 1 OFFSET ?",
                      (int(n * 0.9),)).fetchone()
    db.close()
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).date()
    week = {"since": f"{day}T00:00:00+00:00", "until": f"{day + dt.timedelta(days=7)}T00:00:00+00:00"}
    cursor = f"{deep[0]}~{deep[1]}"
    api = "/api/v1/events?"
    requests: list[tuple[str, Callable[[int], str]]] = [
        ("GET /api/v1/me (the floor: no data read)", lambda i: "/api/v1/me"),
        ("GET /api/v1/events (first page)", lambda i: api.rstrip("?")),
        (f"GET /api/v1/events?person={NAMES[0]}", lambda i: api + f"person={NAMES[0]}"),
        ("GET /api/v1/events?camera=garden", lambda i: api + "camera=garden"),
        ("GET /api/v1/events?unknown=true", lambda i: api + "unknown=true"),
        ("GET /api/v1/events?since&until (a week, 30 days ago)", lambda i: api + urlencode(week)),
        (f"GET /api/v1/events?person={NAMES[1]}&camera=garage&since&until", lambda i: api + urlencode(
            {"person": NAMES[1], "camera": "garage", **week})),
        ("GET /api/v1/events?before=(a page 90 % deep)", lambda i: api + urlencode({"before": cursor})),
        ("GET /api/v1/events?unknown=true&limit=200", lambda i: api + "unknown=true&limit=200"),
        ("GET /api/v1/events/{id}", lambda i: f"/api/v1/events/{ids[i]}"),
        ("GET /api/v1/review/groups", lambda i: "/api/v1/review/groups"),
        ("GET /api/v1/people", lambda i: "/api/v1/people"),
        ("GET /api/v1/people/1", lambda i: "/api/v1/people/1"),
        ("GET /api/v1/cameras", lambda i: "/api/v1/cameras"),
        ("page /", lambda i: "/"),
        ("page /events", lambda i: "/events"),
        ("page /events?unknown=1", lambda i: "/events?unknown=1"),
        (f"page /events?person={NAMES[0]}", lambda i: f"/events?person={NAMES[0]}"),
        ("page /events?camera=garden", lambda i: "/events?camera=garden"),
        ("page /events?since&until (a week)", lambda i: "/events?" + urlencode(
            {"since": str(day), "until": str(day + dt.timedelta(days=6))})),
        ("page /events?before=(90 % deep)", lambda i: "/events?" + urlencode({"before": cursor})),
        ("page /events/{id}", lambda i: f"/events/{ids[i]}"),
        ("page /review", lambda i: "/review"),
        ("page /people", lambda i: "/people"),
        ("page /people/1", lambda i: "/people/1"),
    ]
    rows: list[dict] = []
    with served(["web", "--data-dir", str(root)], root) as (url, logfile), logged_in(url) as client:
        for name, path in requests:
            rows.append(time_requests(client, name, path, repeats))
            if name.startswith("GET /api/v1/events?before"):
                rows.append(time_next_pages(client, repeats))
        errors = server_trouble(logfile)
    print_latency_table(rows)
    if errors:
        print(f"\nthe server logged errors:\n{errors}")
    return {"events": n, "fill_s": round(fill_s, 1), "db_mb": round(size_mb), "requests": rows,
            "server_errors": errors}


def make_events(root: Path, n: int, seed: int = 7) -> None:
    """``n`` synthetic visits in ``root``'s event store: the schema is the store's own, rows go in in bulk."""
    EventStore(root).close()  # creates the database, its tables, indexes and migrations, as facecam does
    rng = np.random.default_rng(seed)
    centres = {name: _unit(rng, 128) * 0.65 for name in NAMES}  # ~0.9 apart, like different people
    strangers = _unit(rng, (50, 128)) * 0.65
    now = dt.datetime.now(dt.UTC)
    model_id = "dlib_resnet_v1/sp5-chip150-pad0.25"
    db = sqlite3.connect(root / EVENTS_DB, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    for lo in range(0, n, 10_000):
        k = min(10_000, n - lo)
        ago_s = rng.random(k) * 60 * 86400
        dur_s = 2 + rng.random(k) * 58
        unknown = rng.random(k) < 0.4
        who = rng.integers(0, len(NAMES), k)
        which = rng.integers(0, len(strangers), k)
        cams = rng.integers(0, len(CAMERAS), k)
        noise = rng.normal(0, 0.25 / np.sqrt(128), (k, 128))
        events, faces = [], []
        for j in range(k):
            start = now - dt.timedelta(seconds=float(ago_s[j]))
            end = start + dt.timedelta(seconds=float(dur_s[j]))
            person = "unknown" if unknown[j] else NAMES[who[j]]
            vec = (strangers[which[j]] if unknown[j] else centres[person]) + noise[j]
            distance = float(0.62 + 0.2 * rng.random()) if unknown[j] else float(0.3 + 0.25 * rng.random())
            event_id = uuid.uuid4().hex
            clock = (start - now).total_seconds() + 60 * 86400
            events.append((event_id, CAMERAS[cams[j]], lo + j, person, start.isoformat(), end.isoformat(), clock,
                           clock + float(dur_s[j]), distance, float(0.4 + 0.5 * rng.random()), None, None, 0,
                           model_id, 128, vec.astype("<f8").tobytes(), 3, 0.1,
                           NAMES[who[j]] if unknown[j] else None))
            faces += [(event_id, f, clock + f, 0.5, distance) for f in range(3)]
        db.executemany("INSERT INTO events (id, camera, track, person, start_time, end_time, start_s, end_s, "
                       "distance, quality, snapshot, crop, bytes, model_id, dim, vectors, votes, margin, nearest) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
        db.executemany("INSERT INTO event_faces VALUES (?, ?, ?, ?, ?)", faces)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()
    with EventStore.open_readonly(root) as store:  # the rows read back through the store's own code
        if len(store.list(limit=5)) != min(5, n) or (n and not store.faces(store.list(limit=1)[0].id)):
            raise RuntimeError("the synthetic events do not read back through EventStore")


def _unit(rng: np.random.Generator, shape: int | tuple[int, int]) -> np.ndarray:
    v = rng.normal(size=shape)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def time_requests(client: httpx.Client, name: str, path: Callable[[int], str], repeats: int) -> dict:
    """``repeats`` timed GETs (after one untimed), each answer read whole."""
    r = client.get(path(repeats))
    if r.status_code != 200:
        print(f"  {name}: {r.status_code} {r.text[:200]!r}", flush=True)
        return {"request": name, "status": r.status_code, "n": 0}
    took: list[float] = []
    spent = time.perf_counter()
    for i in range(repeats):
        t = time.perf_counter()
        r = client.get(path(i))
        took.append(time.perf_counter() - t)
        if r.status_code != 200:
            return {"request": name, "status": r.status_code, "n": len(took)}
        if time.perf_counter() - spent > REQUEST_BUDGET_S and len(took) >= 5:
            break
    return {"request": name, "status": 200, **_stats_ms(took)}


def time_next_pages(client: httpx.Client, repeats: int, hops: int = 20) -> dict:
    """The first page, then ``next`` followed ``hops`` times; each hop timed, ``repeats`` times over."""
    took: list[float] = []
    for _ in range(repeats):
        page = client.get("/api/v1/events").json()
        for _ in range(hops):
            t = time.perf_counter()
            r = client.get("/api/v1/events", params={"before": page["next"]})
            took.append(time.perf_counter() - t)
            if r.status_code != 200:
                return {"request": "GET /api/v1/events?before=next (pages 2-21)", "status": r.status_code}
            page = r.json()
    return {"request": f"GET /api/v1/events?before=next (pages 2-{hops + 1}, each)", "status": 200,
            **_stats_ms(took)}


def _stats_ms(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"n": len(ms), "median_ms": round(float(np.median(ms)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1)}


def print_latency_table(rows: list[dict]) -> None:
    print("\n| request | median ms | p95 ms | median <= 150 ms |\n|---|---|---|---|")
    for r in rows:
        if r.get("status") != 200 or "median_ms" not in r:
            print(f"| {r['request']} | - | - | answered {r.get('status')} |")
            continue
        ok = "yes" if r["median_ms"] <= TARGET_MS else "NO"
        print(f"| {r['request']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {ok} |")
    sys.stdout.flush()


# ----- 2. live view cost ----------------------------------------------------------------------------------------


def prepare_clip_data(root: Path) -> None:
    """lin_manuel_miranda enrolled and the account, with the real ``facecam`` command."""
    facecam("enroll", "--data-dir", str(root), PERSON.name, *map(str, sorted(PERSON.iterdir())))
    with Accounts(root) as accounts:
        accounts.add_user(USER, PASSWORD)


def bench_live(root: Path, seconds: float, rounds: int = 1, clients: tuple[str, ...] = CLIENTS) -> dict:
    """The daemon's parts in this process on the clip looped unpaced; fps with and without each client."""

    print(f"\n## Live view cost: the hamilton clip looped unpaced, {seconds:g} s per phase\n", flush=True)
    if "browser" in clients and not CHROMIUM.is_file():
        print(f"no browser phases: Chromium is not at {CHROMIUM} (apt-get install chromium)")
        clients = tuple(c for c in clients if c != "browser")
    cfg = Config().with_cameras({"door": {"source": str(CLIP), "loop": True, "realtime": False}})
    cfg = cfg.with_overrides(**{"web.enabled": True, "web.host": "127.0.0.1", "web.port": free_port()})
    engines = engines_for(root)
    live, feed = LiveView(), AlertFeed()
    with Gallery(root) as gallery:
        pipeline = build_pipeline(cfg, root, gallery, engines=engines, extra_sinks=[feed], observers=[live])
        status = StatusWriter(root, status_snapshot(pipeline))
        status.start()
        server = start_web(WebContext(Service(cfg, root, engines), Accounts(root), cfg.web, feed, live))
        failed: list[BaseException] = []

        def run() -> None:
            try:
                pipeline.run()
            except BaseException as exc:  # reported by the main thread
                failed.append(exc)

        def frames() -> int:
            st = pipeline.live_stats.get("door")
            return st.frames if st is not None else 0

        runner = threading.Thread(target=run, name="pipeline")
        runner.start()
        phases: list[dict] = []
        started: dict[str, ClientProcess] = {}
        try:
            for kind in clients:  # started (and logged in) before the first phase; idle until told to watch
                started[kind] = ClientProcess(kind, server.url.rstrip("/"), root / f"client-{kind}.log")
            _wait(lambda: frames() >= 30 or bool(failed), 120, "the pipeline's first frames")
            time.sleep(5)  # warm-up
            for _ in range(rounds):
                for kind in clients:
                    phases.append(_phase("no client", frames, lambda: time.sleep(seconds)))
                    phases.append(_watched(started[kind], seconds, frames))
            phases.append(_phase("no client", frames, lambda: time.sleep(seconds)))
        finally:
            for client in started.values():
                client.close()
            pipeline.stop.set()
            runner.join(60)
            server.stop()
            status.stop()
    if failed:
        raise RuntimeError(f"the pipeline failed: {failed[0]!r}")
    return _report_live(phases, clients)


def _report_live(phases: list[dict], clients: tuple[str, ...]) -> dict:
    print("| phase | seconds | frames | fps | facecam CPU % | of which web server | client CPU % | other CPU % "
          "| live frames shown/s |\n|---|---|---|---|---|---|---|---|---|")
    for ph in phases:
        if ph.get("fps") is None:
            print(f"| {ph['phase']} | - | - | - | - | - | - | - | {ph.get('error', '-')} |")
            continue
        client = ph.get("client_cpu_pct", 0.0)
        ph["other_cpu_pct"] = round(max(ph["machine_cpu_pct"] - ph["facecam_cpu_pct"] - client, 0.0), 1)
        shown = f"{ph['live_frames_per_s']:.1f}" if "live_frames_per_s" in ph else "-"
        print(f"| {ph['phase']} | {ph['seconds']:.1f} | {ph['frames']} | {ph['fps']:.1f} | {ph['facecam_cpu_pct']:.0f} "
              f"| {ph['web_cpu_pct']:.1f} | {client:.0f} | {ph['other_cpu_pct']:.0f} | {shown} |")
        if ph.get("page_errors"):
            print(f"  the live page showed errors: {ph['page_errors']}")
    busy = max(ph.get("other_cpu_pct", 0.0) for ph in phases)
    if busy > 15:
        print(f"\nWARNING: other processes used up to {busy:.0f} % of a core during a phase: the fps figures "
              "measure them too; run again on an idle machine")
    without = [ph["fps"] for ph in phases if ph["phase"] == "no client"]
    base = statistics.fmean(without)
    out: dict[str, object] = {"phases": phases, "fps_without_client": round(base, 2)}
    print()
    for kind in clients:
        watched = [ph["fps"] for ph in phases if ph["phase"] == PHASE_NAMES[kind] and ph.get("fps") is not None]
        if not watched:
            continue
        fps = statistics.fmean(watched)
        drop = 100 * (base - fps) / base
        verdict = "within" if drop <= TARGET_DROP else "OVER"
        print(f"{PHASE_NAMES[kind]}: {fps:.1f} fps against {base:.1f} without a client (mean of {len(without)} "
              f"phases): drop {drop:.1f} % ({verdict} the {TARGET_DROP:g} % target)")
        out[kind] = {"fps": round(fps, 2), "drop_pct": round(drop, 1)}
    print(f"CPU % is of one core; this machine has {os.cpu_count()} cores.", flush=True)
    return out


def _phase(name: str, frames: Callable[[], int], during: Callable[[], object]) -> dict:
    """Frames processed while ``during()`` runs, and where the CPU went (% of one core)."""
    f0, web0, own0, all0, t0 = frames(), web_threads_cpu_s(), time.process_time(), machine_busy_s(), time.monotonic()
    during()
    f1, web1, own1, all1, t1 = frames(), web_threads_cpu_s(), time.process_time(), machine_busy_s(), time.monotonic()
    wall = t1 - t0
    return {"phase": name, "seconds": round(wall, 2), "frames": f1 - f0, "fps": round((f1 - f0) / wall, 2),
            "web_cpu_pct": round(100 * (web1 - web0) / wall, 1), "facecam_cpu_pct": round(100 * (own1 - own0) / wall, 1),
            "machine_cpu_pct": round(100 * (all1 - all0) / wall, 1)}


def _watched(client: ClientProcess, seconds: float, frames: Callable[[], int]) -> dict:
    """A phase with ``client`` watching the live view: from its first frame shown, ``seconds`` long."""
    name = PHASE_NAMES[client.kind]
    answer = client.ask("watch")
    if answer != "watching":
        return {"phase": name, "fps": None, "error": f"the client did not get the live view: {answer}"}
    report: dict = {}
    phase = _phase(name, frames, lambda: (time.sleep(seconds), report.update(json.loads(client.ask("stop")))))
    phase.update(report)
    return phase


class ClientProcess:
    """A client of the live view in a process of its own (this script with ``--client KIND --url URL``), so
    that none of its work runs in the measured process: one command a line on its stdin (``watch``,
    ``stop``, ``quit``), one answer a line on its stdout."""

    def __init__(self, kind: str, url: str, log: Path) -> None:
        self.kind, self.log = kind, log
        with log.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, __file__, "--client", kind, "--url", url],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                         cwd=REPO)
        if self._line() != "ready":
            raise RuntimeError(f"the {kind} client did not start: {self._stderr()}")

    def ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        answer = self._line()
        if not answer:
            raise RuntimeError(f"the {self.kind} client ended: {self._stderr()}")
        return answer

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.ask("quit")
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _line(self) -> str:
        return self.proc.stdout.readline().strip()  # type: ignore[union-attr]

    def _stderr(self) -> str:
        self.proc.wait(60)
        return self.log.read_text(errors="replace")[-2000:]


def run_client(kind: str, url: str) -> None:
    """A client process: log in, say ``ready``; ``watch`` starts watching and answers ``watching`` once the
    first frame is in, ``stop`` answers what was seen since (JSON) and stops, ``quit`` ends."""
    if kind == "browser":
        _browser_client(url)
    else:
        _http_client(url)


def _browser_client(url: str) -> None:
    """Headless Chromium on the real /live page (left for a blank page while not watching)."""

    # frames whose faces the page drew (the frame counter changes once per pushed frame)
    count = "window.__frames || 0"
    counting = ("() => { window.__frames = 0; new MutationObserver(() => window.__frames++).observe("
                "document.querySelector('[data-live-camera=\"door\"] [data-counter=\"frame\"]'), "
                "{childList: true, characterData: true, subtree: true}); }")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            r = context.request.post(f"{url}/api/v1/login", data={"user": USER, "password": PASSWORD})
            if not r.ok:
                raise RuntimeError(f"login: {r.status} {r.text()[:200]}")
            context.add_init_script("performance.setResourceTimingBufferSize(100000)")
            page = context.new_page()
            print("ready", flush=True)
            start = (0.0, 0.0, 0)
            while (command := _next_command(lambda: page.wait_for_timeout(100))) not in ("quit", ""):
                if command == "watch":
                    page.goto(f"{url}/live")
                    page.wait_for_selector("figure.live img:not([hidden])", timeout=60_000)
                    page.evaluate(counting)
                    start = (time.monotonic(), tree_cpu_s(os.getpid()), page.evaluate(count))
                    print("watching", flush=True)
                elif command == "stop":
                    t1, cpu1, n1 = time.monotonic(), tree_cpu_s(os.getpid()), page.evaluate(count)
                    errors = [e for e in page.locator(".live-state.error").all_inner_texts() if e.strip()]
                    page.goto("about:blank")
                    print(json.dumps(_seen(start, (t1, cpu1, n1)) | {"page_errors": errors}), flush=True)
        finally:
            browser.close()


def _http_client(url: str) -> None:
    """The live page's requests without a browser (httpx): the MJPEG stream (its parts counted, nothing
    decoded), the faces' event stream, and every 2 s the cameras' counters, as live.js asks for them."""
    cam = "/api/v1/cameras/door"
    with httpx.Client(base_url=url, timeout=30) as c:
        c.post("/api/v1/login", json={"user": USER, "password": PASSWORD}).raise_for_status()
        print("ready", flush=True)
        shown = [0]
        stop = threading.Event()
        threads: list[threading.Thread] = []

        def pictures() -> None:
            with c.stream("GET", f"{cam}/live.mjpeg") as r:
                for chunk in r.iter_raw():
                    shown[0] += chunk.count(b"--facecam-frame")
                    if stop.is_set():
                        return

        def faces() -> None:
            with c.stream("GET", f"{cam}/live/stream") as r:
                for _ in r.iter_lines():
                    if stop.is_set():
                        return

        def counters() -> None:
            while not stop.wait(2.0):
                c.get("/api/v1/cameras").raise_for_status()

        start = (0.0, 0.0, 0)
        while (command := _next_command(lambda: select.select([sys.stdin], [], [], 0.5))) not in ("quit", ""):
            if command == "watch":
                stop.clear()
                threads = [threading.Thread(target=f, daemon=True) for f in (pictures, faces, counters)]
                for t in threads:
                    t.start()
                _wait(lambda: shown[0] > 0, 60, "the first live frame")
                start = (time.monotonic(), tree_cpu_s(os.getpid()), shown[0])
                print("watching", flush=True)
            elif command == "stop":
                end = (time.monotonic(), tree_cpu_s(os.getpid()), shown[0])
                stop.set()
                for t in threads:
                    t.join(10)
                print(json.dumps(_seen(start, end)), flush=True)


def _seen(start: tuple[float, float, int], end: tuple[float, float, int]) -> dict:
    """From (time, CPU seconds of the client's processes, live frames shown) at the start and end of watching."""
    wall = end[0] - start[0]
    return {"live_frames_per_s": round((end[2] - start[2]) / wall, 2),
            "client_cpu_pct": round(100 * (end[1] - start[1]) / wall, 1)}


def _next_command(wait: Callable[[], object]) -> str:
    """The next line on stdin; ``wait()`` runs meanwhile (the client's work, or Playwright's event handling)."""
    while not select.select([sys.stdin], [], [], 0)[0]:
        wait()
    return sys.stdin.readline().strip()


def machine_busy_s() -> float:
    """CPU seconds all processors have been busy since boot (``/proc/stat``: everything but idle and iowait)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def web_threads_cpu_s() -> float:
    """CPU seconds used so far by this process's web server threads (uvicorn's and its request workers)."""
    web = {t.native_id for t in threading.enumerate() if t.name == "web" or t.name.startswith("AnyIO worker")}
    return sum(_task_cpu_s(Path(f"/proc/self/task/{tid}/stat")) for tid in web)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by process ``pid`` and every process below it (all their threads)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {pid}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(_task_cpu_s(Path(f"/proc/{p}/stat")) for p in tree)


def _task_cpu_s(stat: Path) -> float:
    """utime + stime of a process or thread, in seconds (0 if it has gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----- 3. memory ------------------------------------------------------------------------------------------------


def bench_memory(root: Path) -> dict:
    print("\n## Memory: peak RSS of `facecam run` on the hamilton clip (not looped)\n", flush=True)
    base = [sys.executable, "-m", "camera", "run", "--data-dir", str(root), "--source", str(CLIP), "--camera", "door"]
    plain = peak_rss_mb(base)
    web = peak_rss_mb([*base, "--web", f"127.0.0.1:{free_port()}"])
    imports = {what: peak_rss_mb([sys.executable, "-c", f"import {mods}"]) for what, mods in (
        ("pipeline", "camera.app, camera.pipeline"), ("cli", "camera.cli"))}
    diff = web - plain
    verdict = "within" if diff <= TARGET_RSS_MB else "OVER"
    print("| run | peak RSS MB |\n|---|---|")
    print(f"| facecam run | {plain:.0f} |\n| facecam run --web 127.0.0.1:PORT | {web:.0f} |")
    print(f"\n--web adds {diff:.1f} MB ({verdict} the {TARGET_RSS_MB:g} MB target). Importing the pipeline alone: "
          f"{imports['pipeline']:.0f} MB; camera.cli (with the web app's modules, loaded by every facecam "
          f"command): {imports['cli']:.0f} MB (+{imports['cli'] - imports['pipeline']:.0f} MB).", flush=True)
    return {"run_mb": round(plain, 1), "run_web_mb": round(web, 1), "web_adds_mb": round(diff, 1),
            "import_pipeline_mb": round(imports["pipeline"], 1), "import_cli_mb": round(imports["cli"], 1)}


def peak_rss_mb(args: list[str]) -> float:
    """Peak RSS of a process running ``args`` to its end, in MB (2^20 bytes).

    Started from a small helper process: Linux carries the parent's high-water mark into a child through
    fork and exec, so a child of this (large) process would report at least this process's size.
    """
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as err:
        r = subprocess.run([sys.executable, "-c", _RSS_HELPER, err.name, *args], capture_output=True, text=True,
                           cwd=REPO)
        status, maxrss_kb = (int(x) for x in r.stdout.split())
        if r.returncode != 0 or status != 0:
            raise RuntimeError(f"{' '.join(args[1:])} failed with status {status}: {err.read()[-2000:]}")
    return maxrss_kb / 1024.0


_RSS_HELPER = """import os, subprocess, sys
with open(sys.argv[1], "w") as err:
    child = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


# ----- helpers --------------------------------------------------------------------------------------------------


def facecam(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "camera", *args], capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        raise RuntimeError(f"facecam {' '.join(args[:2])} failed: {r.stderr[-2000:]}")
    return r.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(args: list[str], root: Path) -> Iterator[tuple[str, Path]]:
    """``python -m camera ARGS --web 127.0.0.1:PORT`` running for the ``with``: ``(its URL, its log file)``."""
    port = free_port()
    url, logfile = f"http://127.0.0.1:{port}", root / f"server-{port}.log"
    with logfile.open("w") as log_out:
        proc = subprocess.Popen([sys.executable, "-m", "camera", *args, "--web", f"127.0.0.1:{port}"],
                                stdout=log_out, stderr=subprocess.STDOUT, cwd=REPO)
        try:

            def up() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited: {logfile.read_text()[-2000:]}")
                try:
                    return httpx.get(f"{url}/api/v1/openapi.json", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            _wait(up, 120, f"the server on {url}")
            yield url, logfile
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def logged_in(url: str) -> Iterator[httpx.Client]:
    """An httpx client with a session on ``url``."""
    with httpx.Client(base_url=url, timeout=120) as client:
        client.post("/api/v1/login", json={"user": USER, "password": PASSWORD}).raise_for_status()
        yield client


def server_trouble(logfile: Path) -> str:
    text = logfile.read_text(errors="replace")
    return text[-3000:] if "Traceback" in text or "Exception in ASGI" in text else ""


def _wait(done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
