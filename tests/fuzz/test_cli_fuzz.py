"""Fuzzing the ``facecam`` command line (``camera.cli.main(argv)``, in this process).

Inputs: each main subcommand with its own options given odd values
(``--fps-cap nan``, ``--camera`` with escapes, ``--web`` in any shape, huge
numbers, undecodable bytes as argv holds them) and hostile free tokens.
``run`` only ever gets a source that does not exist, so no real run starts;
the data directory is always the fuzzed household, and the process works in
an empty folder, so no stray token can write anywhere else. Property: status
0, 1 or 2, one ``facecam: error:`` line, nothing raw printed, no traceback,
and a failing command changes no file of the household.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.support import PERSON, assert_clean_exit, cli, hostile_text, tree_digest

numbers = st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e309", "0x10", "1_000", "٣", "²", "", " 5",
                                     "5 ", "9" * 5000]),
                    st.integers().map(str), st.floats().map(str), hostile_text)
listen = st.one_of(st.sampled_from(["8080", "0", "65536", "99999999999999999999", ":8080", "[::1]:8080", "::1:8080",
                                    "0.0.0.0:8080", "host name:80", "a/b:80", "²", "٨٠٨٠", "127.0.0.1:", "9" * 5000]),
                   st.builds(lambda h, p: f"{h}:{p}", hostile_text, st.integers(-2, 70000)), hostile_text)
#: free tokens; never an option that names a place to write (--data-dir, --config: given explicitly)
tokens = st.one_of(hostile_text, st.sampled_from(["--", "-", "-v", "--help", "--version", "--not", "--limit",
                                                  "--person", "--from-dir", "--user", "--label"]))


def _safe(token: str) -> str:
    """A free token that cannot point the command at another data directory or config (``--da``, ``--con``)."""
    return "x" + token if token.lstrip("-").startswith(("da", "co")) and token.startswith("--") else token


def _options(pairs: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    """Some of these options, each with a drawn value, in any order."""
    return st.lists(st.sampled_from(sorted(pairs)), unique=True, max_size=4).flatmap(
        lambda names: st.permutations(names)).flatmap(
        lambda names: st.tuples(*[pairs[n] for n in names]).map(
            lambda values, names=names: [x for n, v in zip(names, values, strict=True) for x in (n, v)]))


run_options = _options({
    "--fps-cap": numbers, "--camera": hostile_text, "--web": listen, "--max-distance": numbers,
    "--cooldown": numbers, "--upsample": numbers, "--detector": hostile_text, "--engine": hostile_text,
    "--embedder": hostile_text, "--jsonl": hostile_text.map(lambda s: "/nonexistent/" + s)})


#: sources that name nothing this machine has (no camera is attached; none of these starts a process)
BAD_SOURCES = ["", " ", "²", "٣", "99", "picamera:²", "picamera:x", "picamera2:-1", "/dev/videoX", "x" * 300,
               "/nonexistent/" + "é" * 200, "rtsp://", "~nobody-here/clip.mp4"]
#: stands for the household's data directory in a drawn command line
DATA = "{DATA}"


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    """A command line of one subcommand, the household (:data:`DATA`) as its data directory where it takes one."""
    d = ["--data-dir", DATA]
    text = hostile_text
    extra = st.lists(tokens.map(_safe), max_size=3)
    command = draw(st.sampled_from(["run", "enroll", "label", "events", "status", "check-config", "people", "user",
                                    "token"]))
    if command == "run":  # the source never exists: the command fails before any frame is read
        source = draw(st.one_of(st.none(), text.map(lambda s: "/nonexistent/" + s), st.sampled_from(BAD_SOURCES)))
        args = ["run", *d, *draw(run_options), *(["--source", source] if source is not None else []),
                *draw(st.sampled_from([[], ["--loop"], ["--snapshots"]]))]
    elif command == "enroll":
        args = ["enroll", *d, *draw(st.lists(text, max_size=3)),
                *draw(st.sampled_from([[], ["--from-dir", "/nonexistent/photos"]]))]
    elif command == "label":
        args = ["label", *d, draw(text), *draw(st.lists(text, max_size=1)), *draw(st.sampled_from(
            [[], ["--not", PERSON], ["--not", draw(text)]]))]
    elif command == "events":
        args = ["events", *d, *draw(_options({"--limit": numbers, "--person": text}))]
    elif command == "status":
        args = ["status", *d]
    elif command == "check-config":
        args = ["check-config", "/nonexistent/" + draw(text)]
    elif command == "people":
        action = draw(st.sampled_from([[], ["list"], ["rename", draw(text), draw(text)], ["remove", draw(text)],
                                       ["rename", PERSON, draw(text)], [draw(text)]]))
        args = ["people", *d, *action]
    elif command == "user":
        action = draw(st.sampled_from(["add", "passwd", "remove", "list"]))
        args = ["user", action, *d, *([] if action == "list" else [draw(text)]),
                *draw(st.sampled_from([[], ["--password-stdin"]]))]
    else:
        action = draw(st.sampled_from(["create", "list", "revoke"]))
        args = ["token", action, *d, *{"create": ["--user", draw(text), "--label", draw(text)], "list": [],
                                       "revoke": [draw(text)]}[action]]
    return args + draw(extra)


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in an empty folder, with the default data directory inside it too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACECAM_DATA_DIR", str(tmp_path / "default-data"))
    return tmp_path


@settings(max_examples=250)
@given(args=argv())
@example(args=["run", "--data-dir", DATA, "--source", "/nonexistent/clip.mp4", "--fps-cap", "nan"])
@example(args=["run", "--data-dir", DATA, "--source", "/nonexistent/clip.mp4", "--camera", "door\x1b[31m"])
# an unclear message: `--web ²` and `--web 999...9` (5000 digits) failed as "invalid literal for int()" and
# "Exceeds the limit (4300 digits)": str.isdigit() accepts what int() refuses
@example(args=["run", "--data-dir", DATA, "--source", "/nonexistent/clip.mp4", "--web", "²"])
@example(args=["run", "--data-dir", DATA, "--source", "/nonexistent/clip.mp4", "--web", "9" * 5000])
@example(args=["events", "--data-dir", DATA, "--limit", "9" * 5000])
# regression: `--source ²` and `--source picamera:²` raised ValueError from int() (str.isdigit() says yes): a traceback
@example(args=["run", "--data-dir", DATA, "--source", "²"])
@example(args=["run", "--data-dir", DATA, "--source", "picamera:²"])
# regression: a source name too long for the file system raised OSError (File name too long): a traceback
@example(args=["run", "--data-dir", DATA, "--source", "/nonexistent/" + "é" * 200])
# regression: an unrecognised argument was echoed raw (`unrecognized arguments: \x1b[31m`), and a subcommand's
# argparse error began `facecam events: error:` instead of `facecam: error:`
@example(args=["status", "--data-dir", DATA, "\x1b[31m{#", "--", "\x1b]0;pwned\x07"])
@example(args=["events", "--data-dir", DATA, "--limit", "x"])
# regression: a refused `user add` (bad name) created DATA_DIR/accounts.sqlite3 before refusing
@example(args=["user", "add", "--data-dir", DATA, ""])
# regression: `user remove`/`token revoke` with no accounts file created an empty one, then failed
@example(args=["user", "remove", "--data-dir", DATA, "nobody"])
@example(args=["token", "revoke", "--data-dir", DATA, "ffff"])
# regression: `label` of an id that names no event created DATA_DIR/events.sqlite3 and events/, then failed
@example(args=["label", "--data-dir", DATA, "--not", "obama", "--", "______"])
# regression: a photo path too long for the file system raised OSError from Path.exists(): a traceback
@example(args=["enroll", "--data-dir", DATA, "Alice", "0" * 5000])
def test_any_command_line(household: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str],
                          args: list[str]) -> None:
    args = [str(household) if a == DATA else a for a in args]
    before = tree_digest(household)
    r = cli(args, capsys)
    assert_clean_exit(r)
    if r.rc != 0:
        assert tree_digest(household) == before, r
