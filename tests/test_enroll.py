"""Enrolment through the real `facecam` command and the library: good photos in, bad ones reported, nothing lost."""

import shutil

import pytest

from camera.errors import GalleryError
from camera.gallery.enroll import enroll_photos
from camera.gallery.store import Gallery
from tests.conftest import AGEITGEY, facecam

LIN = AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"
ALEX = AGEITGEY / "identities" / "alex_lacamoire" / "alex-lacamoire.png"
TWO = AGEITGEY / "multi" / "two_people.jpg"


@pytest.fixture
def enrolled(tmp_path):
    """A data dir with lin_manuel_miranda and alex_lacamoire enrolled through the CLI."""
    root = tmp_path / "data"
    for name, photo in (("lin_manuel_miranda", LIN), ("alex_lacamoire", ALEX)):
        r = facecam("enroll", "--data-dir", str(root), name, str(photo))
        assert r.returncode == 0, r.stderr
    return root


def _counts(root):
    with Gallery(root) as g:
        return g.counts(), [p.name for p in g.people()]


def _bad_files(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "zero.jpg").write_bytes(b"")
    (d / "truncated.jpg").write_bytes((AGEITGEY / "knn_examples/test/obama1.jpg").read_bytes()[:2000])
    (d / "text.jpg").write_text("hello, I am text\n")
    return d


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        ("bad/zero.jpg", "the file is empty (0 bytes)"),
        ("bad/truncated.jpg", "corrupt or truncated image"),
        ("bad/text.jpg", "not an image file"),
        ("missing.jpg", "no such file"),
        ("noface", "no face found"),
        ("two", "2 faces found"),
    ],
)
def test_bad_photo_is_reported_and_gallery_unchanged(enrolled, tmp_path, photo, message):
    _bad_files(tmp_path)
    if photo == "noface":
        import numpy as np
        from PIL import Image

        path = tmp_path / "wall.png"
        Image.fromarray(np.full((200, 300, 3), 127, np.uint8)).save(path)
    elif photo == "two":
        path = TWO
    else:
        path = tmp_path / photo
    before = _counts(enrolled)
    r = facecam("enroll", "--data-dir", str(enrolled), "lin_manuel_miranda", str(path))
    assert r.returncode == 1
    assert message in r.stdout and str(path) in r.stdout
    assert _counts(enrolled) == before


def test_people_list_rename_remove(enrolled):
    r = facecam("people", "--data-dir", str(enrolled), "list")
    assert r.returncode == 0 and '"alex_lacamoire"\t1 photos\t1 embeddings' in r.stdout
    assert facecam("people", "--data-dir", str(enrolled), "rename", "alex_lacamoire", "Alex L.").returncode == 0
    r = facecam("people", "--data-dir", str(enrolled), "rename", "nobody", "x")
    assert r.returncode == 2 and "no person named 'nobody'" in r.stderr
    r = facecam("people", "--data-dir", str(enrolled), "rename", "Alex L.", "lin_manuel_miranda")
    assert r.returncode == 2 and "already enrolled" in r.stderr
    assert facecam("people", "--data-dir", str(enrolled), "remove", "Alex L.").returncode == 0
    assert _counts(enrolled) == ((1, 1, 1), ["lin_manuel_miranda"])
    assert len(list((enrolled / "photos").iterdir())) == 1


def test_odd_names_are_data(tmp_path, dlib_engine):
    name = "Zoë \"Z\" O'Brien; $(rm -rf ~)\n李小龙"
    with Gallery(tmp_path) as g:
        (o,) = enroll_photos(g, dlib_engine, name, [LIN])
        assert o.status == "enrolled"
        assert g.index(dlib_engine.embedder.model_id).names == (name,)
        for bad in ("", "   ", "unknown", "Unknown", "a\x00b", "x" * 201):
            with pytest.raises(GalleryError):
                enroll_photos(g, dlib_engine, bad, [LIN])
        assert g.counts() == (1, 1, 1)


def test_same_photo_twice_is_a_duplicate(tmp_path, dlib_engine):
    with Gallery(tmp_path) as g:
        assert [o.status for o in enroll_photos(g, dlib_engine, "lin", [LIN, LIN])] == ["enrolled", "duplicate"]
        assert g.counts() == (1, 1, 1)


def test_rebuild_after_model_change(tmp_path, dlib_engine):
    """Embeddings record their model: a gallery made by another model id is re-embedded from its photos."""
    from camera.gallery.enroll import rebuild

    with Gallery(tmp_path) as g:
        enroll_photos(g, dlib_engine, "lin", [LIN])
        g._db.execute("UPDATE embeddings SET model_id = 'old-model'")
        assert len(g.index(dlib_engine.embedder.model_id)) == 0
        assert [o.status for o in rebuild(g, dlib_engine)] == ["enrolled"]
        assert len(g.index(dlib_engine.embedder.model_id)) == 1 and len(g.index("old-model")) == 1


def test_enroll_from_dir_and_recognise_knn_test_photos(tmp_path, dlib_engine):
    """knn_examples/train enrolled with --from-dir; each single-person test photo is named correctly."""
    from camera.imageio import load_image
    from camera.matching import match_embeddings

    root = tmp_path / "data"
    r = facecam("enroll", "--data-dir", str(root), "--from-dir", str(AGEITGEY / "knn_examples" / "train"))
    assert "photos enrolled" in r.stderr, r.stderr
    with Gallery(root) as g:
        names = [p.name for p in g.people()]
        assert names == ["alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie"]
        index = g.index(dlib_engine.embedder.model_id)
    expected = {"alex_lacamoire1.jpg": "alex_lacamoire", "johnsnow_test1.jpg": "kit_harington",
                "obama1.jpg": "obama"}
    for file, person in expected.items():
        rgb = load_image(AGEITGEY / "knn_examples" / "test" / file)
        det = dlib_engine.detector.detect(rgb)
        assert len(det) == 1, file
        (m,) = match_embeddings(dlib_engine.embedder.embed(rgb, det), index, 0.6)
        assert m.person == person, (file, m)
    # the two-person test photos name both of their people
    for file, people in {"kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
                         "obama_and_biden.jpg": {"obama", "biden"}}.items():
        rgb = load_image(AGEITGEY / "knn_examples" / "test" / file)
        det = dlib_engine.detector.detect(rgb)
        got = {m.person for m in match_embeddings(dlib_engine.embedder.embed(rgb, det), index, 0.6)}
        assert people <= got, (file, got)


def test_from_dir_errors(tmp_path):
    r = facecam("enroll", "--data-dir", str(tmp_path / "d"), "--from-dir", str(tmp_path / "nope"))
    assert r.returncode == 2 and "not a folder" in r.stderr
    r = facecam("enroll", "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 2 and "give NAME and at least one PHOTO" in r.stderr


def test_corrupt_database_is_reported_not_overwritten(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "gallery.sqlite3").write_bytes(b"this is not sqlite" * 100)
    r = facecam("people", "--data-dir", str(root))
    assert r.returncode == 2 and "not a usable gallery database" in r.stderr
    assert (root / "gallery.sqlite3").read_bytes() == b"this is not sqlite" * 100
    shutil.rmtree(root)
