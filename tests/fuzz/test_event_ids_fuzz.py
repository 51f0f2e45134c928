"""Fuzzing event ids: the prefix lookup behind ``facecam label ID`` and ``GET /api/v1/events/{id}``.

Inputs: prefixes of real ids (some shared by two events), and arbitrary text
with ``%``, ``_``, ``*``, quotes, SQL fragments, upper case, surrogates.
Property: an id names an event only when it is a prefix (6 to 32 hex digits)
of exactly that event's id; otherwise one error line (a web 400/404), and a
refused ``label`` changes no file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from camera.config import Config
from camera.events.store import EVENT_ID, EventError, EventNotFound, EventStore
from camera.service import Service
from camera.types import UNKNOWN
from tests.fuzz.support import (
    PERSON,
    assert_clean_exit,
    assert_one_line,
    assert_user_error,
    cli,
    hostile_text,
    tree_digest,
)

#: two ids that share their first 10 digits, and two others
IDS = ["aaaaaaaaaa" + "0" * 22, "aaaaaaaaaa" + "1" * 22, "abcdef0123456789abcdef0123456789", "0" * 31 + "1"]

event_ids = st.one_of(
    st.builds(lambda i, n: i[:n], st.sampled_from(IDS), st.integers(0, 33)),
    st.builds(lambda i, n, tail: i[:n] + tail, st.sampled_from(IDS), st.integers(0, 32), hostile_text),
    st.builds(lambda i: i.upper(), st.sampled_from(IDS)),
    st.text("0123456789abcdef", min_size=6, max_size=32),
    hostile_text,
)


@pytest.fixture(scope="module")
def events(household: Path) -> Path:
    """:func:`household` with the events :data:`IDS` (faces only, no pictures) in its event store."""
    now = dt.datetime.now(dt.UTC)
    with EventStore(household) as store:
        for event_id in IDS:
            store.add("door", 1, UNKNOWN, now, now, 0.0, 1.0, 0.7, 0.8, None, None, np.zeros((1, 128)), "m",
                      event_id=event_id)
    return household


def _named(text: str) -> list[str]:
    """The ids ``text`` may name: it is 6 to 32 lower-case hex digits and they start with it."""
    return [i for i in IDS if i.startswith(text)] if EVENT_ID.fullmatch(text) else []


@settings(max_examples=300)
@given(text=event_ids)
@example(text="______")
@example(text="%%%%%%")
@example(text="aaaaaa")  # two events start with it
@example(text="ABCDEF012345")
@example(text="abcdef0123456789abcdef0123456789\n")
@example(text="' OR 1=1 --")
def test_lookup(events: Path, text: str) -> None:
    """``Service.event`` (what ``label`` and the API call): the one event it names, or one error line."""
    named = _named(text)
    try:
        got = Service(Config(), events).event(text)
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
        assert_user_error(exc)
        assert isinstance(exc, EventError), exc
        assert len(named) != 1, f"{text!r} names {named} but was refused: {exc}"
        assert isinstance(exc, EventNotFound) == (not named and bool(EVENT_ID.fullmatch(text))), exc
        return
    assert named == [got.id], f"{text!r} matched {got.id}, expected exactly {named}"


@settings(max_examples=120)
@given(text=event_ids)
@example(text="aaaaaa")
@example(text="..")
@example(text="\udcff" * 6)
def test_api_lookup(events: Path, web: TestClient, text: str) -> None:
    """``GET /api/v1/events/{id}``: 200 for the one event named, else 400/404 with a one-line ``detail``."""
    assume(text not in ("", ".") and "/" not in text)  # the event list, or a longer path: not a lookup
    r = web.get("/api/v1/events/" + quote(text.encode("utf-8", "surrogatepass"), safe=""))
    named = _named(text)
    if len(named) == 1:
        assert r.status_code == 200 and r.json()["id"] == named[0], r.text
        return
    assert r.status_code in (400, 404, 405), r.text
    assert_one_line(str(r.json()["detail"]))


@settings(max_examples=40)
@given(text=event_ids)
@example(text="______")
@example(text="aaaaaa")
@example(text="-x")
def test_label_not(events: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    """``facecam label ID --not NAME``: labels the one event named, or one error line and no file changed."""
    before = tree_digest(events)
    r = cli(["label", "--data-dir", str(events), "--not", PERSON, "--", text], capsys)
    assert_clean_exit(r)
    if len(_named(text)) == 1:
        assert r.rc == 0, r
    else:
        assert r.rc == 2 and tree_digest(events) == before, r
