"""`evaluate video`: exact scores on known cases, and a real run of the hamilton clip through the pipeline."""

import json
import subprocess
import sys

import pytest

from camera.errors import FacecamError
from camera.evaluation.video import Appearance, Detection, load_expected, score_alerts
from tests.conftest import AGEITGEY, HAMILTON, REPO

A = [Appearance("alice", 0.0, 5.0), Appearance("bob", 3.0, 8.0), Appearance("alice", 20.0, 30.0)]


@pytest.mark.parametrize(
    ("dets", "tp", "fp", "fn", "precision", "recall", "ttf"),
    [
        ([], 0, 0, 3, None, 0.0, ()),
        ([Detection("alice", 1.0)], 1, 0, 2, 1.0, 1 / 3, (1.0,)),
        ([Detection("alice", 1.0), Detection("alice", 2.0)], 1, 1, 2, 0.5, 1 / 3, (1.0,)),  # one per visit
        ([Detection("alice", 5.9)], 1, 0, 2, 1.0, 1 / 3, (5.9,)),  # within the 1 s tolerance
        ([Detection("alice", 6.1)], 0, 1, 3, 0.0, 0.0, ()),
        ([Detection("bob", 2.5), Detection("alice", 22.0), Detection("alice", 0.5)], 3, 0, 0, 1.0, 1.0,
         (0.0, 0.5, 2.0)),
        ([Detection("carol", 4.0)], 0, 1, 3, 0.0, 0.0, ()),
    ],
)
def test_scores(dets, tp, fp, fn, precision, recall, ttf):
    s = score_alerts(dets, A, tolerance_s=1.0)
    assert (s.tp, s.fp, s.fn) == (tp, fp, fn)
    assert s.precision == (None if precision is None else pytest.approx(precision))
    assert s.recall == pytest.approx(recall)
    assert sorted(s.time_to_first_s) == pytest.approx(sorted(ttf))


@pytest.mark.parametrize(
    ("text", "message"),
    [("who,when\nx,1\n", "header person,start_s,end_s"), ("person,start_s,end_s\nx,a,2\n", ":2: start_s"),
     ("person,start_s,end_s\nx,3,2\n", ":2: needs a person and end_s >= start_s")],
)
def test_bad_expected_files(tmp_path, text, message):
    path = tmp_path / "expected.csv"
    path.write_text(text)
    with pytest.raises(FacecamError, match=message):
        load_expected(path)


def test_hamilton_clip_visit_scores(tmp_path):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for name in ("lin_manuel_miranda", "alex_lacamoire"):
        (gallery / name).symlink_to(AGEITGEY / "identities" / name)
    expected = tmp_path / "expected.csv"  # frames 0-19 and 82-210 at 29.97 fps: one visit with a 2 s cutaway
    expected.write_text("person,start_s,end_s\nlin_manuel_miranda,0.0,7.04\n")
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, "scripts/evaluate.py", "video", str(HAMILTON), str(expected), "--gallery",
                        str(gallery), "--engine", "dlib", "--out", str(out)], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads((out / "video.json").read_text())["result"]
    (e,) = result["engines"]
    assert e["score"]["tp"] == 1 and e["score"]["fp"] == 0 and e["score"]["recall"] == 1.0
    assert 0 <= e["score"]["mean_time_to_first_s"] < 2.0
    assert (out / "video.html").exists() and "precision 100.0%" in r.stdout
