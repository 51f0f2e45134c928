"""What every fuzz target checks, and the hostile inputs they draw from.

The property is the same everywhere: a parser of outside input either works,
or fails with facecam's own error (:data:`camera.errors.USER_ERRORS`) whose
message is one line (:func:`camera.redact.one_line` finds nothing to escape);
through the ``facecam`` command, exit status 1 or 2 with one
``facecam: error:`` line on standard error and no traceback; and a failing
call leaves the data directory's files as they were (:func:`tree_digest`).
"""

from __future__ import annotations

import hashlib
import json
import math
import string
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import strategies as st

from camera.cli import main
from camera.errors import USER_ERRORS
from camera.redact import one_line
from tests.conftest import AGEITGEY, DATA

#: a small real photo of one face (250x250 JPEG) and a small real PNG (112x112), read in place
SMALL_JPEG = DATA / "lfw-view1" / "lfw_deepfunneled" / "Judy_Genshaft" / "Judy_Genshaft_0002.jpg"
SMALL_PNG = DATA / "deepinsight+insightface" / "identities" / "Tom_Hanks" / "Tom_Hanks_54745.png"
#: the photo the fuzz modules' households are enrolled from
OBAMA = AGEITGEY / "identities" / "obama" / "obama-240p.jpg"
PERSON = "obama"

#: files that may change without the data changing: the run lock (kept on purpose) and SQLite's sidecars
VOLATILE = ("facecam.lock", "-wal", "-shm", "-journal")

#: fragments that broke (or could break) parsers and terminals elsewhere
HOSTILE_FRAGMENTS = [
    "\x00", "\n", "\r", "\r\n", "\t", "\x1b[31m", "\x1b]0;pwned\x07", "\x7f", "\x85", "\u2028", "\u2029",
    "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\ud800", "\udcff", "\udfff", "%", "_", "*", "?", "'", '"',
    "\\", "`", "$(id)", "'; DROP TABLE people; --", "\" OR 1=1 --", "%_%", "unknown", "UNKNOWN", " ", "\u00a0",
    "é", "e\u0301", "ﬁ", "名前", "🙂", "../", "/", ":", "=", "[", "]", "{", "}", "#", "--", "-",
]

#: any Unicode code point, lone surrogates included (what argv holds after surrogateescape)
any_char = st.characters(exclude_categories=())

hostile_text = st.one_of(
    st.lists(st.one_of(st.text(any_char, max_size=12), st.sampled_from(HOSTILE_FRAGMENTS)), max_size=8).map("".join),
    st.builds(lambda unit, n: unit * n, st.sampled_from(["a", "é", "\u200b", "\x1b", "%", "0", "名"]),
              st.integers(150, 10_000)),
)


def assert_one_line(text: str) -> None:
    """``text`` is one line with no raw control or escape characters (as :func:`one_line` writes it)."""
    assert one_line(text) == text, f"not one clean line: {text!r}"


def assert_user_error(exc: BaseException) -> None:
    """``exc`` is facecam's own error with a one-line message."""
    assert isinstance(exc, USER_ERRORS), f"{type(exc).__name__} escaped: {exc!r}"
    assert str(exc), f"{type(exc).__name__} without a message"
    assert_one_line(str(exc))


@dataclass(frozen=True)
class CliResult:
    """``facecam ARGV`` run in this process: exit status and what it printed."""

    rc: int
    out: str
    err: str


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> CliResult:
    """Run :func:`camera.cli.main` with ``argv`` (argparse's exits become the status)."""
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return CliResult(rc, out, err)


def assert_clean_exit(r: CliResult) -> None:
    """The command worked (0), or failed as the README says: status 1 or 2, one ``facecam: error:`` line at
    the end of standard error (argparse's usage before it), nothing raw on any output line, no traceback."""
    assert "Traceback" not in r.err, r.err
    for line in (r.out + r.err).splitlines():
        assert_one_line(line)
    assert r.rc in (0, 1, 2), r
    errors = [line for line in r.err.splitlines() if line.startswith("facecam: error:")]
    if r.rc == 2:
        assert len(errors) == 1 and r.err.splitlines()[-1] == errors[0], r.err
        before = r.err.splitlines()[:-1]
        assert not before or before[0].startswith("usage: "), f"more than the error on stderr: {r.err!r}"
    else:
        assert not errors, r


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path (the lock and SQLite's sidecar files left out)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(VOLATILE)}


# ----- TOML documents built from strategies --------------------------------------------------------------------

_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(s: str) -> str:
    """``s`` as a TOML basic string (control characters escaped; no surrogates in ``s``)."""
    return '"' + "".join(_TOML_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 32 or ord(c) == 127 else c)
                         for c in s) + '"'


def toml_value(v: object) -> str:
    """A Python value (bool, int, float, str, list, dict) as an inline TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {type(v).__name__}")


def toml_document(data: dict[str, object], _table: tuple[str, ...] = ()) -> str:
    """A TOML file for ``data``: scalars first, then a ``[table]`` header per nested table (bare keys where
    TOML allows them, so ``find_line`` has headers and keys to look for)."""
    def key(k: str) -> str:
        return k if k and all(c in string.ascii_letters + string.digits + "_-" for c in k) else toml_string(k)

    lines = [f"{key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            path = (*_table, k)
            lines.append(f"[{'.'.join(key(p) for p in path)}]")
            lines.append(toml_document(v, path))
    return "\n".join(lines)


toml_scalar = st.one_of(
    st.booleans(), st.integers(), st.integers(-3, 200), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.sampled_from(["", "0", "-1", "nan", "America", "Europe", "x" * 300, "..", "/etc/passwd",
                                           "/dev/zero", "rtsp://user:pw@cam/stream", "picamera", "picamera:9",
                                           "onnx", "dlib", "mmod", "yunet", "hog", "unknown", "-", "12:00",
                                           "24:00", "00:00", "١٢:٠٠", "Europe/Berlin", "127.0.0.1", "0.0.0.0"]),
)
toml_any = st.recursive(toml_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)


def json_bytes(value: object) -> bytes:
    """``value`` as JSON (non-finite floats as JSON's unofficial ``NaN``/``Infinity``, as Python writes them)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
