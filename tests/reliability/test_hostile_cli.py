"""Hostile input to the real `facecam` command, one row per case of issue 13's list.

Each row is a command line (with its set-up) and the documented outcome: the
exit status, and where it is an error, one line ``facecam: error: ...`` that
points at the problem. Every row also holds: no ``Traceback``, no raw control
character printed (a name's ``\\x1b[31m`` or newline), and no data already
stored lost or changed by a refused command. The commands run a few at a time
(each is a fresh Python that imports facecam); each row is its own test.

The configs that ``check-config`` accepted and ``run`` crashed on are rows for
``run``; :func:`test_check_config_refuses_what_run_refuses` holds them against
``load_config``, which is all ``check-config`` does. Rows kept elsewhere: a
``status.json`` of ``[]`` (tests/test_status.py),
webhook credentials and a Home Assistant webhook id in logs, ``facecam status``
and ``outbox.sqlite3`` (tests/reliability/test_kill_restart.py), a newline in
a name in the daemon's log (tests/reliability/test_mqtt_faults.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from camera.alerts.outbox import Outbox
from camera.config import load_config
from camera.errors import ConfigError
from camera.events.store import EventStore
from camera.gallery.store import Gallery
from camera.types import UNKNOWN
from tests.alerts_support import RecordingSink, make_alert
from tests.conftest import AGEITGEY, HAMILTON, REPO

LIN = AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"
ALEX_DIR = AGEITGEY / "identities" / "alex_lacamoire"
ESC_NAME = "red\x1b[31mname"
FORGED = "2026-01-01 00:00:00,000 ERROR camera: forged line"
NOW = dt.datetime.now(dt.UTC)


@dataclass
class Ctx:
    """One row's own folders: ``tmp`` for its files, ``data`` a copy of the enrolled data directory."""

    tmp: Path
    data: Path
    notes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """``argv`` (``{data}``, ``{tmp}`` replaced), the exit status, the error line's pattern (``None``: no error
    line), a set-up, more checks, and whether every file of the data directory must be left as it was."""

    argv: tuple[str, ...]
    code: int
    error: str | None = None
    setup: Callable[[Ctx], None] | None = None
    check: Callable[[Ctx, subprocess.CompletedProcess], None] | None = None
    unchanged: bool = True
    timeout: float = 60
    umask: int | None = None
    measure_rss: bool = False
    head: int | None = None  # read this many lines of standard output, then close it (``| head -2``)


# ----- set-ups and checks ---------------------------------------------------------------------------------------


def _long_status(c: Ctx) -> None:
    """A running daemon's status with 5000 cameras: more than a pipe holds."""
    cams = {f"cam{i}": {"frames": i} for i in range(5000)}
    (c.data / "status.json").write_text(json.dumps({"pid": os.getpid(), "running": True, "started": "x",
                                                    "updated": dt.datetime.now(dt.UTC).isoformat(),
                                                    "cameras": cams}))


def _two_lines(c: Ctx, r: subprocess.CompletedProcess) -> None:
    first, second = r.stdout.splitlines()
    assert re.fullmatch(rf"daemon: running \(pid {os.getpid()}, started x, status \d+ s old\)", first), first
    assert second == "camera cam0: 0.0 fps, 0 frames, 0 dropped, 0 faces, 0 alerts, 0 errors"


def _garbage_outbox(c: Ctx) -> None:
    (c.data / "outbox.sqlite3").write_bytes(np.random.default_rng(13).bytes(20_000))


def _damaged_outbox(c: Ctx) -> None:
    """A real outbox with three queued alerts, every page but the first with its b-tree header overwritten."""
    box = Outbox(c.data / "outbox.sqlite3", [RecordingSink("jsonl", fail_first=99)], base_delay_s=50, max_delay_s=60)
    for i in range(3):
        box.send(make_alert(n=i))
    box.close()
    size = (c.data / "outbox.sqlite3").stat().st_size
    with open(c.data / "outbox.sqlite3", "r+b") as f:
        for page in range(4096, size, 4096):
            f.seek(page)
            f.write(b"\xff" * 16)


def _outbox_problem(c: Ctx, r: subprocess.CompletedProcess) -> None:
    assert re.search(r"^problem: .*outbox\.sqlite3: cannot read the alert queues: ", r.stdout, re.M), r.stdout


def _hostile_person(c: Ctx) -> None:
    with Gallery(c.data) as g:
        g.rename("lin_manuel_miranda", f"{ESC_NAME}\n{FORGED}")


def _listed_escaped(c: Ctx, r: subprocess.CompletedProcess) -> None:
    [line] = r.stdout.splitlines()  # one person, one line: the newline in the name is escaped
    assert line.startswith('"red\\u001b[31mname\\n2026-01-01'), line


def _enrolled_escaped(c: Ctx, r: subprocess.CompletedProcess) -> None:
    assert "enrolled  'red\\x1b[31mname\\n2026-01-01" in r.stdout, r.stdout
    assert f"{ESC_NAME}\n{FORGED}" in _people(c.data)  # stored exactly as given


def _people_folder(c: Ctx) -> None:
    """``people/NAME/`` of links to the real photos, with a folder named ``unknown`` between the others."""
    for name, photo in (("alex_lacamoire", ALEX_DIR / "alex-lacamoire.png"), ("unknown", LIN),
                        ("obama", AGEITGEY / "identities" / "obama" / "obama3.jpg")):
        (c.tmp / "people" / name).mkdir(parents=True)
        (c.tmp / "people" / name / photo.name).symlink_to(photo)


def _unknown_skipped(c: Ctx, r: subprocess.CompletedProcess) -> None:
    assert "skipped   folder 'unknown': 'unknown' is reserved" in r.stdout, r.stdout
    assert _people(c.data) == ["alex_lacamoire", "lin_manuel_miranda", "obama"]


def _four_events(c: Ctx) -> None:
    with EventStore(c.data) as store:
        for _ in range(4):
            store.add("door", 1, UNKNOWN, NOW, NOW, 0.0, 1.0, 0.7, 0.8, None, None, np.zeros((1, 128)), "m")


def _sparse_jpeg(c: Ctx) -> None:
    with open(c.tmp / "huge.jpg", "wb") as f:
        f.write(LIN.read_bytes()[:4096])
        f.truncate(3 * 1024**3)


def _small_rss(c: Ctx, r: subprocess.CompletedProcess) -> None:
    assert "above the limit" in r.stdout, r.stdout
    assert c.notes["peak_rss_mb"] < 500, c.notes  # read whole, it took 3.2 GB


def _fifo(c: Ctx) -> None:
    os.mkfifo(c.tmp / "fifo.toml")


def _dev_zero(c: Ctx) -> None:
    (c.tmp / "zero.toml").symlink_to("/dev/zero")


def _many_keys(c: Ctx) -> None:
    (c.tmp / "many.toml").write_text("".join(f"key{i} = {i}\n" for i in range(20_000)))


def _bounded(c: Ctx, r: subprocess.CompletedProcess) -> None:
    assert len(r.stderr) < 10_000 and c.notes["seconds"] < 20, (len(r.stderr), c.notes)


def _config(text: str) -> Callable[[Ctx], None]:
    def write(c: Ctx) -> None:
        (c.tmp / "c.toml").write_text(text.replace("{tmp}", str(c.tmp)))
    return write


def _quiet(c: Ctx, r: subprocess.CompletedProcess) -> None:
    assert not re.search(r" (DEBUG|INFO|WARNING) ", r.stderr), r.stderr  # log_level = "error"


def _old_modes(c: Ctx) -> None:
    """A fresh data directory, beside a gallery an older version left readable by everyone."""
    os.chmod(c.data / "gallery.sqlite3", 0o644)
    c.notes["fresh"] = c.tmp / "fresh"


def _private(c: Ctx, r: subprocess.CompletedProcess) -> None:
    for root in (c.data, c.tmp / "fresh"):
        assert {"gallery.sqlite3", "events.sqlite3", "outbox.sqlite3"} <= {p.name for p in root.iterdir()}
        modes = {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}
        wrong = {p: oct(m) for p, m in modes.items() if m & 0o077 or (m & 0o700) not in (0o600, 0o700)}
        assert not wrong, wrong
    assert stat.S_IMODE((c.tmp / "fresh").stat().st_mode) == 0o700


def _secrets_hidden(c: Ctx, r: subprocess.CompletedProcess) -> None:
    out = r.stdout + r.stderr
    assert "admin:***@127.0.0.1:1/stream1?password=***" in out, out
    assert not re.search("p@ss|w0rd|hunter3", out), out


# ----- the rows ---------------------------------------------------------------------------------------------------

RUN = ("run", "--data-dir", "{data}", "--source", str(ALEX_DIR))
BAD_CONFIGS = {
    "quiet-hours-25:99": ('[alerts]\njsonl = "-"\n[[alerts.rules]]\nsinks = ["jsonl"]\n'
                          'quiet_hours = { start = "25:99", end = "07:00" }\n',
                          r":5: alerts\.rules\.0\.quiet_hours\.start: .*'25:99' is not a time of day"),
    "empty-argv": ('[[alerts.command]]\nargv = [""]\n', r":2: alerts\.command\.0\.argv\.0: "),
    "base-delay-above-max": ('[alerts]\njsonl = "-"\n[alerts.outbox]\nbase_delay_s = 600\nmax_delay_s = 300\n',
                             r":3: alerts\.outbox: .*base_delay_s \(600\) is above max_delay_s \(300\)"),
    "empty-jsonl": ('[alerts]\njsonl = ""\n', r":2: alerts\.jsonl"),
    "crlf-in-header": ('[[alerts.webhook]]\nurl = "http://127.0.0.1:9/x"\nheaders = { X-A = "a\\r\\nEvil: 1" }\n',
                       r":3: alerts\.webhook\.0\.headers: .*header 'X-A'.*no CR, LF"),
    "shell-with-placeholder": ('[[alerts.command]]\nargv = ["/bin/sh", "-c", "echo {person} >> {tmp}/x"]\n',
                               r":2: alerts\.command\.0\.argv: .*code for sh and holds \{person\}"),
}

CASES: dict[str, Case] = {
    "camera-name-with-a-space": Case((*RUN, "--camera", "front door"), 2, r"camera name 'front door'"),
    **{f"fps-cap-{v}": Case((*RUN, f"--fps-cap={v}"), 2, r"cameras\.default\.fps_cap: ") for v in ("0", "-1", "nan")},
    "status-piped-into-head-2": Case(("status", "--data-dir", "{data}"), 0, None, _long_status, _two_lines, head=2),
    "status-of-a-garbage-outbox": Case(("status", "--data-dir", "{data}"), 1, None, _garbage_outbox, _outbox_problem),
    "status-of-a-damaged-outbox": Case(("status", "--data-dir", "{data}"), 1, None, _damaged_outbox, _outbox_problem),
    "run-on-a-garbage-outbox": Case((*RUN, "--jsonl", "{tmp}/a.jsonl"), 2,
                                    r"outbox .*outbox\.sqlite3 cannot be opened: file is not a database",
                                    _garbage_outbox),
    "run-on-a-damaged-outbox": Case((*RUN, "--jsonl", "{tmp}/a.jsonl"), 2,
                                    r"outbox .*outbox\.sqlite3 cannot be opened: .*malformed", _damaged_outbox),
    "enrol-a-name-with-a-terminal-escape-and-a-newline": Case(("enroll", "--data-dir", "{data}",
                                                               f"{ESC_NAME}\n{FORGED}", str(LIN)), 0,
                                                              check=_enrolled_escaped, unchanged=False),
    "list-a-name-with-an-escape-and-a-newline": Case(("people", "--data-dir", "{data}"), 0, None, _hostile_person,
                                                     _listed_escaped),
    "remove-a-name-with-an-escape-and-a-newline": Case(("people", "--data-dir", "{data}", "remove",
                                                        f"{ESC_NAME}\n{FORGED}"), 2, r"no person named"),
    "enrol-a-zero-width-space": Case(("enroll", "--data-dir", "{data}", "\u200b", str(LIN)), 2,
                                     r"needs a visible character"),
    "enrol-from-dir-with-a-folder-named-unknown": Case(("enroll", "--data-dir", "{data}", "--from-dir",
                                                        "{tmp}/people"), 1, None, _people_folder, _unknown_skipped,
                                                       unchanged=False),
    "label-an-id-of-like-wildcards": Case(("label", "--data-dir", "{data}", "______", "--not", "lin_manuel_miranda"),
                                          2, r"'______' is not an event id", _four_events),
    "enrol-a-3gb-sparse-jpeg": Case(("enroll", "--data-dir", "{data}", "bob", "{tmp}/huge.jpg"), 1, None,
                                    _sparse_jpeg, _small_rss, measure_rss=True),
    "check-config-on-a-symlink-to-dev-zero": Case(("check-config", "{tmp}/zero.toml"), 2, r"not a regular file",
                                                  _dev_zero, timeout=20),
    "check-config-on-a-fifo": Case(("check-config", "{tmp}/fifo.toml"), 2, r"not a regular file", _fifo,
                                   timeout=20),
    "check-config-with-20000-unknown-keys": Case(("check-config", "{tmp}/many.toml"), 2,
                                                 r"many\.toml:1: key0: unknown key.*and 19980 more problems",
                                                 _many_keys, _bounded, timeout=30),
    "log-level-error-is-honoured": Case(("run", "--config", "{tmp}/c.toml", "--data-dir", "{tmp}/empty", "--source",
                                         str(ALEX_DIR)), 0, None, _config('log_level = "error"\n'), _quiet),
    **{f"run-{k}": Case(("run", "--config", "{tmp}/c.toml", "--data-dir", "{data}", "--source", str(HAMILTON)), 2,
                        f"c\\.toml{e}", _config(t)) for k, (t, e) in BAD_CONFIGS.items()},
    "rtsp-passwords-redacted": Case(("run", "--data-dir", "{data}", "--source",
                                     "rtsp://admin:p@ss/w0rd@127.0.0.1:1/stream1?password=hunter3&channel=1"), 2,
                                    r"cannot open stream rtsp://admin:\*\*\*@", check=_secrets_hidden),
    "private-files-after-a-run-with-umask-022": Case(("run", "--data-dir", "{data}", "--source", str(ALEX_DIR),
                                                      "--jsonl", "{tmp}/a.jsonl"), 0, None, _old_modes, _private,
                                                     unchanged=False, umask=0o022),
}


# ----- running them ---------------------------------------------------------------------------------------------

def _fill(arg: str, c: Ctx) -> str:
    return arg.replace("{data}", str(c.data)).replace("{tmp}", str(c.tmp))


def _stored(root: Path) -> dict[str, str]:
    """What a data directory holds: sha256 of each file but the lock files a refused start may create."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def _execute(case: Case, c: Ctx) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    if case.setup is not None:
        case.setup(c)
    before = _stored(c.data)
    argv = [_fill(a, c) for a in case.argv]
    if "fresh" in c.notes:  # the same command again on a data directory that does not exist yet
        _run(case, argv[:2] + [str(c.notes["fresh"])] + argv[3:], c)
    t0 = time.monotonic()
    r = _run(case, argv, c)
    c.notes["seconds"] = time.monotonic() - t0
    return r, before


def _run(case: Case, argv: list[str], c: Ctx) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "camera", *argv]
    if case.measure_rss:  # a fresh parent, so RUSAGE_CHILDREN is this command's alone
        cmd = [sys.executable, "-c", "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(r.returncode)", *cmd]
    umask = case.umask

    def preexec() -> None:
        if umask is not None:
            os.umask(umask)

    if case.head is not None:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            lines = [proc.stdout.readline() for _ in range(case.head)]
            proc.stdout.close()  # the reader leaves, as head does
            err = proc.stderr.read()
            return subprocess.CompletedProcess(cmd, proc.wait(case.timeout), "".join(lines), err)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=case.timeout, cwd=REPO, preexec_fn=preexec)
    if case.measure_rss:
        *lines, rss = r.stderr.rstrip("\n").split("\n")
        c.notes["peak_rss_mb"] = int(rss) / 1024
        r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout, "\n".join(lines) + "\n")
    return r


@pytest.fixture(scope="module")
def outcomes(enrolled_gallery: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Every row run once, three at a time: name -> (context, result, data directory before, error)."""
    ctxs = {}
    for name in CASES:
        tmp = tmp_path_factory.mktemp("case")
        ctxs[name] = Ctx(tmp, Path(shutil.copytree(enrolled_gallery, tmp / "data")))

    def one(name: str) -> tuple:
        try:
            return (ctxs[name], *_execute(CASES[name], ctxs[name]), None)
        except Exception as exc:  # reported by that row's test
            return ctxs[name], None, None, exc

    with ThreadPoolExecutor(3) as pool:
        return dict(zip(CASES, pool.map(one, CASES), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_gets_its_documented_answer(name: str, outcomes: dict[str, tuple]) -> None:
    case = CASES[name]
    c, r, before, exc = outcomes[name]
    if exc is not None:
        raise exc
    out = r.stdout + r.stderr
    assert r.returncode == case.code, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out), out[-3000:]  # no raw escape, CR or NUL
    assert not any(line.startswith(FORGED) for line in out.splitlines()), out[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("facecam: error:")]
    if case.error is None:
        assert errors == [], r.stderr[-3000:]
    else:
        assert len(errors) == 1 and r.stderr.rstrip("\n").endswith(errors[0]), r.stderr[-3000:]
        assert re.search(case.error, errors[0]), errors[0]
    if case.check is not None:
        case.check(c, r)
    if case.unchanged:
        after = _stored(c.data)
        assert {k: after.get(k) for k in before} == before  # nothing stored was lost or changed
    assert "lin_manuel_miranda" in _people(c.data) or name.startswith("list-")


def _people(root: Path) -> list[str]:
    with sqlite3.connect(f"file:{root / 'gallery.sqlite3'}?mode=ro", uri=True) as db:
        return sorted(r[0] for r in db.execute("SELECT name FROM people"))


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_check_config_refuses_what_run_refuses(name: str, tmp_path: Path) -> None:
    """`check-config` is :func:`load_config`, the code path `run` loads its file with (rows ``run-*`` above);
    regression: check-config accepted these configs and run crashed on them with a traceback."""
    text, error = BAD_CONFIGS[name]
    (tmp_path / "c.toml").write_text(text.replace("{tmp}", str(tmp_path)))
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "c.toml")
    assert re.search(f"c\\.toml{error}", str(exc.value)), exc.value
