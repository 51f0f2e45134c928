"""Fuzzing the daemon's status file: ``read_daemon_status`` and ``facecam status`` on ``DATA_DIR/status.json``.

Inputs: arbitrary bytes; JSON of any shape; status objects with the real
keys holding odd values (escapes in names and problems, NaN and infinite
counters, ids too large for a pid, dates out of range, this process's pid
with a fresh time so it reads as running); a status file that is a FIFO, a
folder or ``/dev/zero``. Property: a status (``unknown`` when unreadable),
never an exception or a hang; ``facecam status`` prints only clean lines,
exits 0 or 1, and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from camera.status import STATUS_FILE, DaemonStatus, format_status, read_daemon_status
from tests.fuzz.support import assert_clean_exit, assert_one_line, cli, hostile_text, json_bytes, tree_digest

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10)
counters = st.one_of(st.integers(), st.floats(), st.sampled_from([float("inf"), float("-inf"), float("nan"),
                                                                  2**63, -1, True]), json_values)
times = st.one_of(st.sampled_from(["now", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "0001-01-01T00:00:00Z",
                                   "9999-12-31T23:59:59+14:00", "2026-02-30T00:00:00Z", "", "Z"]),
                  st.datetimes().map(dt.datetime.isoformat), hostile_text, json_values)
status_objects = st.fixed_dictionaries({}, optional={
    "pid": st.one_of(st.just("self"), st.integers(), st.sampled_from([0, -1, 2**31, 2**64, True])),
    "running": st.one_of(st.just(True), json_values),
    "started": st.one_of(times, hostile_text),
    "updated": times,
    "cameras": st.one_of(st.dictionaries(st.one_of(hostile_text, st.text(max_size=8)), st.one_of(
        st.dictionaries(st.sampled_from(["frames", "fps", "dropped", "faces", "alerts", "errors", "visits"]),
                        counters, max_size=7), json_values), max_size=3), json_values),
    "problems": st.one_of(st.lists(st.one_of(hostile_text, json_values), max_size=3), json_values),
})


def _realised(obj: dict[str, object]) -> dict[str, object]:
    """``"self"`` as this process's pid and ``"now"`` as the current time (so the status reads as running)."""
    now = dt.datetime.now(dt.UTC).isoformat()
    return {k: os.getpid() if v == "self" else now if v == "now" else v for k, v in obj.items()}


def _check(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = read_daemon_status(root)
    assert isinstance(status, DaemonStatus)
    for line in format_status(status, root).splitlines():
        assert_one_line(line)
    before = tree_digest(root)
    r = cli(["status", "--data-dir", str(root)], capsys)
    assert_clean_exit(r)
    assert r.rc in (0, 1) and tree_digest(root) == before, r


@settings(max_examples=100)
@given(data=st.one_of(st.binary(max_size=200), json_values.map(json_bytes)))
@example(data=b"\xff\xfe{}")
# regression: JSON arrays nested 100,000 deep raised RecursionError out of json.loads: a traceback from `status`
@example(data=b"[" * 100_000)
def test_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str],
                         data: bytes) -> None:
    root = tmp_path_factory.mktemp("status")
    (root / STATUS_FILE).write_bytes(data)
    _check(root, capsys)


@settings(max_examples=150)
@given(obj=status_objects)
# regression: a NaN or infinite counter raised ValueError/OverflowError from int(): a traceback from `status`
@example(obj={"cameras": {"door": {"frames": float("inf"), "fps": float("nan"), "dropped": 10**400}}})
# regression: the start time, camera names and problems were printed raw (a terminal escape, a forged line)
@example(obj={"pid": "self", "running": True, "updated": "now", "started": "\x1b[31mred",
              "cameras": {"door\x1b]0;pwned\x07": {}}, "problems": ["all fine\nproblem: forged"]})
def test_status_objects(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str],
                        obj: dict[str, object]) -> None:
    root = tmp_path_factory.mktemp("status")
    (root / STATUS_FILE).write_bytes(json_bytes(_realised(obj)))
    _check(root, capsys)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize("make", [_fifo, Path.mkdir, lambda p: p.symlink_to("/dev/zero"),
                                  lambda p: p.symlink_to(p.name)],
                         ids=["fifo", "directory", "symlink-to-dev-zero", "symlink-loop"])
def test_a_status_file_that_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], make) -> None:
    """Read at once as ``unknown``: no wait for a writer on a FIFO, no endless read of /dev/zero.

    Regression: ``facecam status`` waited forever on a FIFO and read /dev/zero until memory ran out.
    """
    make(tmp_path / STATUS_FILE)
    got: list[DaemonStatus] = []
    reader = threading.Thread(target=lambda: got.append(read_daemon_status(tmp_path)), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive() and (tmp_path / STATUS_FILE).is_fifo():  # let the blocked reader go before failing
        os.close(os.open(tmp_path / STATUS_FILE, os.O_WRONLY | os.O_NONBLOCK))
    assert not reader.is_alive() and got and got[0].state == "unknown", "status.json was not refused at once"
    _check(tmp_path, capsys)
