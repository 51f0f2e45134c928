"""The event store (camera/events/store.py): pictures before rows, repair, retention, privacy, and kill -9."""

from __future__ import annotations

import datetime as dt
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from camera.events.config import EventsConfig
from camera.events.store import _SCHEMA, EVENTS_DB, SCHEMA_VERSION, EventError, EventStore
from camera.gallery.enroll import enroll_photos
from camera.gallery.store import Gallery
from camera.imageio import load_image
from camera.types import UNKNOWN
from tests.conftest import AGEITGEY, HAMILTON, REPO

LIN = AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"
NOW = dt.datetime.now(dt.UTC)
BOX = np.array([150.0, 100.0, 350.0, 300.0])


def _add(store: EventStore, person: str = "lin_manuel_miranda", days_ago: float = 0.0, camera: str = "door"):
    t = NOW - dt.timedelta(days=days_ago)
    return store.add(camera, 1, person, t, t + dt.timedelta(seconds=5), 0.0, 5.0, 0.45, 0.9, load_image(LIN), BOX,
                     np.ones((3, 128)), "m")


def test_event_keeps_its_pictures_and_embeddings(tmp_path):
    with EventStore(tmp_path) as store:
        e = _add(store)
        assert Path(e.snapshot).is_file() and Path(e.crop).is_file()
        assert Path(e.snapshot).parent == tmp_path / "events" / NOW.strftime("%Y-%m-%d")
        assert load_image(e.crop).shape[:2] == (400, 400)  # the 200 px face with half its size around it
        got = store.get(e.id[:8])
        assert got.person == "lin_manuel_miranda" and got.vectors.shape == (3, 128) and got.distance == 0.45
        store.update(e.id, NOW + dt.timedelta(seconds=9), 9.0, distance=0.41, vectors=np.zeros((5, 128)))
        got = store.get(e.id)
        assert got.end_s == 9.0 and got.distance == 0.41 and got.vectors.shape == (5, 128)
        with pytest.raises(EventError, match="no event"):
            store.get("ffffffffff")


def test_privacy_keeps_no_pictures_of_known_people(tmp_path):
    with EventStore(tmp_path, EventsConfig(known_images=False)) as store:
        known, stranger = _add(store), _add(store, UNKNOWN)
        assert known.snapshot is None and known.crop is None
        assert Path(stranger.snapshot).is_file()
        store.update(stranger.id, NOW, 5.0, person="lin_manuel_miranda")  # turned out to be family
        assert store.get(stranger.id).snapshot is None and not Path(stranger.snapshot).exists()


def test_retention_by_age_and_by_disk_use(tmp_path):
    with EventStore(tmp_path, EventsConfig(retain_days=30)) as store:
        old, recent = _add(store, days_ago=40), _add(store, days_ago=1)
        assert store.prune(NOW) == 1
        assert not Path(old.snapshot).exists() and Path(recent.snapshot).is_file()
        assert [e.id for e in store.list()] == [recent.id]
    size = Path(recent.snapshot).stat().st_size + Path(recent.crop).stat().st_size
    with EventStore(tmp_path, EventsConfig(max_disk_mb=1.5 * size / 1e6)) as store:
        newest = _add(store)
        assert store.prune(NOW) == 1  # two events' pictures do not fit: the oldest goes
        assert [e.id for e in store.list()] == [newest.id] and not Path(recent.snapshot).exists()


def test_repair_forgets_missing_pictures_and_deletes_strays(tmp_path):
    with EventStore(tmp_path) as store:
        broken, fine = _add(store), _add(store)
    Path(broken.snapshot).unlink()
    folder = Path(fine.snapshot).parent
    (folder / ".tmp-abc123").write_bytes(b"half a jpeg")  # killed inside atomic_write
    (folder / "0123456789abcdef.jpg").write_bytes(b"\xff\xd8")  # written, but its row never committed
    with EventStore(tmp_path, repair=True) as store:
        assert store.get(broken.id).snapshot is None and store.get(broken.id).crop is None
        assert not Path(broken.crop).exists()
        assert Path(store.get(fine.id).snapshot).is_file()
    assert sorted(p.name for p in folder.iterdir()) == sorted([Path(fine.snapshot).name, Path(fine.crop).name])


@pytest.fixture(scope="module")
def household(dlib_engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("killed")
    with Gallery(root) as g:
        for name in ("lin_manuel_miranda", "alex_lacamoire"):
            enroll_photos(g, dlib_engine, name, sorted((AGEITGEY / "identities" / name).iterdir()))
    return root


def _rows(root: Path) -> list[tuple]:
    with sqlite3.connect(root / EVENTS_DB, timeout=10) as db:
        return db.execute("SELECT id, person, snapshot, crop FROM events").fetchall()


def _rows_so_far(root: Path) -> list[tuple]:
    """The rows, or none while the running process has not created the database and its tables yet."""
    try:
        return _rows(root) if (root / EVENTS_DB).exists() else []
    except sqlite3.OperationalError:  # no such table (yet)
        return []


@pytest.mark.parametrize("delay_s", [0.0, 0.15])
def test_kill_9_leaves_no_half_event_and_no_dangling_path(household, delay_s):
    """SIGKILL right after an event is committed (and a little later, mid-work), then restart."""
    root = household
    proc = subprocess.Popen([sys.executable, "-m", "camera", "run", "--data-dir", str(root), "--source",
                             str(HAMILTON), "--cooldown", "0"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    before = len(_rows_so_far(root))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(_rows_so_far(root)) > before:
            break
        time.sleep(0.02)
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL  # it was killed during the run, not at its end
    with sqlite3.connect(root / EVENTS_DB) as db:  # the database opens and is whole
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = _rows(root)
    assert len(rows) > before
    for _, person, snapshot, crop in rows:  # no half row, no path to a missing file
        assert person and snapshot and crop
        assert (root / snapshot).is_file() and (root / crop).is_file()
    # the restart repairs what a kill between a picture's write and its row's commit leaves behind
    (root / "events" / ".tmp-leftover").write_bytes(b"x")
    r = subprocess.run([sys.executable, "-m", "camera", "run", "--data-dir", str(root), "--source",
                        str(AGEITGEY / "identities" / "alex_lacamoire")], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (root / "events" / ".tmp-leftover").exists()
    for _, _, snapshot, crop in _rows(root):
        assert (root / snapshot).is_file() and (root / crop).is_file()


def test_events_lists_visits_and_label_enrols_the_face_crop(dlib_engine, tmp_path):
    from tests.conftest import facecam

    rgb = load_image(LIN)
    box = dlib_engine.detector.detect(rgb).xyxy[0]
    with EventStore(tmp_path) as store:
        e = store.add("door", 7, UNKNOWN, NOW, NOW, 0.0, 2.0, 0.7, 0.9, rgb, box, np.ones((3, 128)), "m")
    r = facecam("events", "--data-dir", str(tmp_path))
    assert r.returncode == 0 and e.id in r.stdout and '"unknown"' in r.stdout
    r = facecam("label", "--data-dir", str(tmp_path), e.id[:10], "lin_manuel_miranda")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "enrolled  lin_manuel_miranda" in r.stdout
    with Gallery(tmp_path) as g:
        assert [(p.name, p.photos) for p in g.people()] == [("lin_manuel_miranda", 1)]
    with EventStore(tmp_path) as store:
        assert store.get(e.id).person == "lin_manuel_miranda"
    r = facecam("label", "--data-dir", str(tmp_path), "nosuchevent", "--not", "lin_manuel_miranda")
    assert r.returncode == 2 and "'nosuchevent' is not an event id" in r.stderr
    r = facecam("label", "--data-dir", str(tmp_path), "abcdef0123", "--not", "lin_manuel_miranda")
    assert r.returncode == 2 and "no event with id 'abcdef0123'" in r.stderr


@pytest.mark.parametrize("pattern", ["______", "%%%%%%", "_" * 32, "abc%", "ABCDEF012345"])
def test_event_ids_are_never_patterns(tmp_path, pattern):
    """Regression: ids were matched with LIKE, so ``label ______ --not X`` matched (and changed) 4 events."""
    with EventStore(tmp_path) as store:
        for _ in range(4):
            store.add("door", 1, UNKNOWN, NOW, NOW, 0.0, 1.0, 0.7, 0.8, None, None, np.zeros((1, 128)), "m")
        with pytest.raises(EventError, match="not an event id"):
            store.get(pattern)


def test_an_events_file_of_the_previous_version_is_upgraded_without_losing_a_row(tmp_path):
    """Version 0 had no decision columns, no faces table and no time index; readers upgrade it too."""
    with sqlite3.connect(tmp_path / EVENTS_DB) as db:
        db.executescript(_SCHEMA)
        db.execute("INSERT INTO events VALUES ('ab' || printf('%030d', 1), 'door', 1, 'alice', ?, ?, 0, 1, 0.4, "
                   "0.9, NULL, NULL, 0, 'm', 128, ?)", (NOW.isoformat(), NOW.isoformat(), np.zeros(128).tobytes()))
    with EventStore.open_readonly(tmp_path) as store:
        (e,) = store.list()
        assert e.person == "alice" and e.votes is None and store.faces(e.id) == []
    with sqlite3.connect(tmp_path / EVENTS_DB) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
