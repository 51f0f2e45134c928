"""Fuzzing people's names: ``validate_name`` and the ``facecam enroll`` / ``people rename`` / ``people remove`` paths.

Inputs: arbitrary Unicode (lone surrogates, as argv holds undecodable bytes,
included), control characters, bidi overrides, zero-width characters,
terminal escapes, SQL and LIKE fragments, 10,000-character strings.
Property: a name that can be stored and is printed escaped, or one
:class:`GalleryError` line; a refused name changes no file.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings

from camera.errors import GalleryError
from camera.gallery.store import MAX_NAME_LEN, validate_name
from camera.types import UNKNOWN
from tests.fuzz.support import (
    PERSON,
    SMALL_JPEG,
    assert_clean_exit,
    assert_user_error,
    cli,
    hostile_text,
    tree_digest,
)


def _valid(name: str) -> str | None:
    try:
        return validate_name(name)
    except GalleryError:
        return None


@settings(max_examples=500)
@given(name=hostile_text)
# regression: a lone surrogate (what argv holds for an undecodable byte) was accepted, and SQLite then raised
# UnicodeEncodeError when storing it: a traceback from `facecam enroll`
@example(name="Al\udcffice")
@example(name="\u202e\u200b\x1b[31mEve")
@example(name="é" * 10_000)
def test_validate_name(name: str) -> None:
    """A name is refused with one line, or comes back storable: NFC, stripped, bounded, never ``unknown``."""
    try:
        clean = validate_name(name)
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
        assert_user_error(exc)
        assert isinstance(exc, GalleryError), exc
        return
    assert clean == unicodedata.normalize("NFC", clean) == clean.strip() and clean
    assert "\x00" not in clean and len(clean) <= MAX_NAME_LEN and clean.lower() != UNKNOWN
    clean.encode("utf-8")  # SQLite stores UTF-8: a name that cannot be encoded cannot be stored
    assert validate_name(clean) == clean


@settings(max_examples=60)
@given(new=hostile_text)
@example(new="Al\udcffice")  # regression: see test_validate_name
@example(new="a\nb\x1b[31m")
# regression: `facecam people` printed a C1 control (\x88; \x9b is an 8-bit CSI escape) and a bidi override raw:
# JSON quoting escapes only C0 controls
@example(new="名前\x88\u202eevil")
def test_people_rename(household: Path, capsys: pytest.CaptureFixture[str], new: str) -> None:
    """``facecam people rename``: renamed (and listed JSON-quoted), or one error line and no file changed."""
    assume(_valid(new) != PERSON)
    before = tree_digest(household)
    r = cli(["people", "--data-dir", str(household), "rename", PERSON, new], capsys)
    assert_clean_exit(r)
    if r.rc != 0:
        assert r.rc == 2 and tree_digest(household) == before, r
        return
    clean = validate_name(new)
    listed = cli(["people", "--data-dir", str(household)], capsys)
    assert_clean_exit(listed)
    assert json.loads(listed.out.splitlines()[0].split("\t")[0]) == clean, listed
    back = cli(["people", "--data-dir", str(household), "rename", clean, PERSON], capsys)
    assert back.rc == 0, back


@settings(max_examples=40)
@given(name=hostile_text)
@example(name="Al\udcffice")  # regression: see test_validate_name
@example(name="'; DROP TABLE people; --")
@example(name="%")
def test_people_remove_nobody(household: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """``facecam people remove`` of a name no one has: one error line (status 2) and no file changed."""
    assume(_valid(name) != PERSON)
    before = tree_digest(household)
    r = cli(["people", "--data-dir", str(household), "remove", name], capsys)
    assert_clean_exit(r)
    assert r.rc == 2 and tree_digest(household) == before, r


@settings(max_examples=10)
@given(name=hostile_text)
@example(name="Al\udcffice")  # regression: see test_validate_name
@example(name="\u202eevE\x1b[31m\n")
def test_enroll_under_any_name(household: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """``facecam enroll NAME PHOTO``: enrolled under the stored form of NAME, or one error line and no change."""
    assume(_valid(name) != PERSON)
    before = tree_digest(household)
    r = cli(["enroll", "--data-dir", str(household), name, str(SMALL_JPEG)], capsys)
    assert_clean_exit(r)
    if r.rc != 0:
        assert r.rc == 2 and tree_digest(household) == before, r
        return
    removed = cli(["people", "--data-dir", str(household), "remove", validate_name(name)], capsys)
    assert removed.rc == 0, removed
