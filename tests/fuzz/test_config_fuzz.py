"""Fuzzing the config loader (``load_config``, ``facecam check-config FILE``, ``--config FILE``).

Inputs: arbitrary bytes; the example config with bytes flipped; TOML built
from the real keys of :class:`camera.config.Config` with wrong types, odd
values and unknown keys; deep nesting; files that are not regular files.
Property: a :class:`Config`, or one :class:`ConfigError` line; through the
command, status 0 or 2 with one ``facecam: error:`` line.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from camera.config import MAX_CONFIG_BYTES, Config, load_config
from camera.errors import ConfigError
from tests.conftest import REPO
from tests.fuzz.support import assert_clean_exit, assert_user_error, cli, toml_any, toml_document

EXAMPLE = (REPO / "facecam.example.toml").read_bytes()


def _value(annotation: object) -> st.SearchStrategy[object]:
    """Values for a field of this type: mostly of the right shape, often of a wrong type or out of range."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return st.one_of(_table(annotation), toml_any)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*[_value(a) for a in args if a is not type(None)])
    if origin is dict:
        names = st.one_of(st.sampled_from(["door", "front_door", "cam-2"]), st.text(max_size=8))
        return st.dictionaries(names, _value(args[1]), max_size=2)
    if origin is list:
        return st.one_of(st.lists(_value(args[0]), max_size=2), toml_any)
    if origin is typing.Literal:
        return st.one_of(st.sampled_from(args), toml_any)
    return toml_any


def _table(model: type[BaseModel]) -> st.SearchStrategy[dict[str, object]]:
    """A table of ``model``'s own keys (any subset), sometimes with an unknown key added."""
    known = st.fixed_dictionaries({}, optional={n: st.deferred(lambda a=f.annotation: _value(a))
                                                for n, f in model.model_fields.items()})
    unknown = st.dictionaries(st.text(min_size=1, max_size=12), toml_any, max_size=1)
    return st.builds(lambda k, u: {**u, **k}, known, st.one_of(st.just({}), unknown))


def _flipped(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        out[pos % len(out)] = value
    return bytes(out)


def _nested(depth: int, kind: str) -> str:
    """A value (or header) nested ``depth`` levels deep."""
    if kind == "array":
        return "engine = " + "[" * depth + "1" + "]" * depth
    if kind == "inline":
        return "engine = " + "{a = " * depth + "1" + "}" * depth
    return "[" + ".".join(["engine"] * depth) + "]\nupsample = 1"


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """load_config and check-config agree, and each works or fails cleanly."""
    try:
        cfg = load_config(path)
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
        assert_user_error(exc)
        assert isinstance(exc, ConfigError), exc
        cfg = None
    r = cli(["check-config", str(path)], capsys)
    assert_clean_exit(r)
    assert r.rc == (0 if cfg is not None else 2), r


@settings(max_examples=120)
@given(data=st.one_of(st.binary(max_size=400), st.lists(st.tuples(st.integers(0, len(EXAMPLE)), st.integers(0, 255)),
                                                          min_size=1, max_size=8).map(lambda e: _flipped(EXAMPLE, e))))
@example(data=EXAMPLE)
@example(data=b"\xff\xfe[engine]")
@example(data=b"[engine]\nname = \"onnx\x00\"")
def test_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str],
                         data: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "facecam.toml"
    path.write_bytes(data)
    _check(path, capsys)


@settings(max_examples=150)
@given(doc=_table(Config))
# regression: `timezone = "America"` (a folder of zones) raised IsADirectoryError from the validator: a traceback
@example(doc={"alerts": {"timezone": "America"}})
# regression: a zone name longer than a file name raised OSError (File name too long)
@example(doc={"alerts": {"timezone": "x" * 300}})
# regression: a key holding a newline or an escape was put raw into the error (`engine.a<newline>b: unknown key`)
@example(doc={"engine": {"a\nb\x1b[31m": 1}})
def test_toml_from_the_real_keys(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str],
                                 doc: dict[str, object]) -> None:
    path = tmp_path_factory.mktemp("cfg") / "facecam.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    _check(path, capsys)


@settings(max_examples=12)
@given(depth=st.integers(1, 5000), kind=st.sampled_from(["array", "inline", "header"]))
# regression: arrays or inline tables nested ~400 deep raised RecursionError out of tomllib: a traceback
@example(depth=5000, kind="array")
@example(depth=5000, kind="inline")
def test_deep_nesting(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], depth: int,
                      kind: str) -> None:
    path = tmp_path_factory.mktemp("cfg") / "facecam.toml"
    path.write_text(_nested(depth, kind), encoding="utf-8")
    _check(path, capsys)


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "fifo")
    return tmp / "fifo"


def _symlink(tmp: Path, target: str) -> Path:
    (tmp / "link.toml").symlink_to(target)
    return tmp / "link.toml"


def _sparse(tmp: Path) -> Path:
    path = tmp / "big.toml"
    with path.open("wb") as f:
        f.truncate(MAX_CONFIG_BYTES + 1)
    return path


@pytest.mark.parametrize(("make", "message"), [
    (_fifo, "not a regular file"),
    (lambda t: t, "not a regular file"),
    (lambda t: _symlink(t, "/dev/zero"), "not a regular file"),
    (lambda t: _symlink(t, "/dev/null"), "not a regular file"),
    (lambda t: _symlink(t, "link.toml"), "cannot read"),
    (lambda t: t / "missing.toml", "no such config file"),
    (_sparse, "a config file is at most"),
], ids=["fifo", "directory", "symlink-to-dev-zero", "symlink-to-dev-null", "symlink-loop", "missing", "too-big"])
def test_files_that_are_not_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message) -> None:
    """Each fails at once (no hang on a FIFO, no endless read of /dev/zero) with one clear line."""
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=message) as exc:
        load_config(path)
    assert_user_error(exc.value)
    for argv in (["check-config", str(path)], ["events", "--config", str(path), "--data-dir", str(tmp_path / "d")]):
        r = cli(argv, capsys)
        assert_clean_exit(r)
        assert r.rc == 2 and message in r.err, r


@settings(max_examples=40)
@given(name=st.text(st.characters(exclude_characters="/"), min_size=1, max_size=40))
# regression: a NUL in the path raised ValueError (embedded null byte) from os.open: a traceback
@example(name="a\x00b.toml")
def test_odd_file_names(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    """Whatever the name (NUL, newlines, escapes, surrogates, too long), a missing file is one clean error."""
    with pytest.raises(Exception) as exc:  # noqa: B017 - which one is the property
        load_config(tmp_path_factory.mktemp("cfg") / name)
    assert_user_error(exc.value)
