"""The evaluation CLI end to end: real dlib models on real photos from ../shared/data.

Small runs only (20 LFW pairs, 4 ATT people, the 5 annotated detection
photos) so the file stays well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from camera.engine import ENGINES
from camera.evaluation.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LFW = DATA / "lfw-view1"
ATT = DATA / "ChiTatZhang+server_graduate" / "att_faces"
DETECT_XML = DATA / "davisking+dlib" / "faces_detection" / "testing.xml"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not LFW.is_dir(), reason=f"real data not found at {DATA}")


@pytest.fixture(scope="module")
def lfw_run(tmp_path_factory):
    """One small View 1 run through the CLI: 20 train + 20 test pairs, a fresh cache."""
    out = tmp_path_factory.mktemp("lfw")
    argv = ["pairs", str(LFW / "pairsDevTest.txt"), "--train", str(LFW / "pairsDevTrain.txt"), "--limit", "20",
            "--cache-dir", str(out / "cache"), "--out", str(out / "report"), "--json", str(out / "r.json"),
            "--progress", "off"]
    assert main(argv) == 0
    return out, argv


def _accuracy(scores):
    """Independent recomputation: None distance = no embedding = never accepted."""
    right = [((s["distance"] if s["distance"] is not None else math.inf) <= s["threshold"]) == s["same"]
             for s in scores]
    return sum(right) / len(right)


def test_pairs_cli_writes_reports_and_json_with_the_documented_keys(lfw_run):
    out, _ = lfw_run
    for name in ("report/pairs.md", "report/pairs.html", "r.json", "report/pairs_files/roc.png"):
        assert (out / name).is_file(), name
    data = json.loads((out / "r.json").read_text())
    (engine,) = data["result"]["engines"]
    assert {"engine", "accuracy_mean", "accuracy_std", "pairs"} <= engine.keys()
    assert engine["engine"] == "dlib" and engine["pairs"] == 20
    assert engine["accuracy_mean"] >= 0.85  # dlib is ~99 % on LFW; 20 pairs leave room for one or two errors
    html = (out / "report/pairs.html").read_text()
    assert "data:image/png;base64," in html and "<img" in html  # self-contained


def test_reported_accuracy_matches_a_recomputation_from_the_saved_distances(lfw_run):
    out, _ = lfw_run
    (engine,) = json.loads((out / "r.json").read_text())["result"]["engines"]
    test = [s for s in engine["scores"] if s["split"] == "test"]
    train = [s for s in engine["scores"] if s["split"] == "train"]
    assert len(test) == 20 and len(train) == 20
    assert _accuracy(test) == pytest.approx(engine["accuracy_mean"])
    # The threshold is the best one on the train pairs: no other threshold does better there.
    t = engine["threshold"]
    assert all(s["threshold"] == t for s in test)
    d = np.array([s["distance"] for s in train], float)
    same = np.array([s["same"] for s in train])
    best = max(np.mean((d <= c) == same) for c in np.concatenate([d, d - 1e-9, [0.0]]))
    assert _accuracy(train) == pytest.approx(best)


def test_a_rerun_reads_every_embedding_from_the_cache(lfw_run, tmp_path):
    out, argv = lfw_run
    argv = [a if a != str(out / "r.json") else str(tmp_path / "again.json") for a in argv]
    assert main(argv) == 0
    first = json.loads((out / "r.json").read_text())["result"]["engines"][0]
    again = json.loads((tmp_path / "again.json").read_text())["result"]["engines"][0]
    assert again["stats"]["computed"] == 0
    assert again["stats"]["cache_hits"] == first["stats"]["n_photos"]
    assert again["accuracy_mean"] == first["accuracy_mean"]


def test_views_are_keyed_apart_in_the_cache_and_described(lfw_run, tmp_path):
    """``--views 2`` on the same pairs: new embeddings (not the 1-view ones from the cache), said in the report."""
    out, argv = lfw_run
    argv = [a if a != str(out / "r.json") else str(tmp_path / "v2.json") for a in argv] + ["--views", "2"]
    assert main(argv) == 0
    one = json.loads((out / "r.json").read_text())["result"]
    two = json.loads((tmp_path / "v2.json").read_text())["result"]
    assert two["engines"][0]["stats"]["cache_hits"] == 0
    assert "mean over 2 views" in two["policy"] and "views" not in one["policy"]
    d1 = {(s["a"], s["b"]): s["distance"] for s in one["engines"][0]["scores"]}
    d2 = {(s["a"], s["b"]): s["distance"] for s in two["engines"][0]["scores"]}
    assert d1.keys() == d2.keys() and any(abs(d1[k] - d2[k]) > 1e-3 for k in d1 if d1[k] is not None)


def test_missing_and_unreadable_photos_are_listed_not_fatal(tmp_path):
    a = LFW / "lfw_deepfunneled" / "Aaron_Peirsol"
    (tmp_path / "broken.jpg").write_bytes(b"this is not a jpeg")
    csv = tmp_path / "pairs.csv"
    csv.write_text("path_a,path_b,same\n"
                   f"{a / 'Aaron_Peirsol_0001.jpg'},{a / 'Aaron_Peirsol_0002.jpg'},1\n"
                   f"{a / 'Aaron_Peirsol_0001.jpg'},{tmp_path / 'gone.jpg'},1\n"
                   f"{a / 'Aaron_Peirsol_0003.jpg'},{tmp_path / 'broken.jpg'},0\n"
                   "only-one-path,,1\n")
    assert main(["pairs", str(csv), "--no-cache", "--out", str(tmp_path / "r"), "--folds", "2",
                 "--progress", "off"]) == 0
    data = json.loads((tmp_path / "r" / "pairs.json").read_text())["result"]
    kinds = {(Path(p["item"]).name, p["kind"]) for p in data["engines"][0]["problems"]}
    assert {("gone.jpg", "missing"), ("broken.jpg", "unreadable")} <= kinds
    assert [p["kind"] for p in data["problems"]] == ["bad_line"]
    assert data["engines"][0]["pairs"] == 3 and data["engines"][0]["pairs_without_embedding"] == 2
    md = (tmp_path / "r" / "pairs.md").read_text()
    assert "gone.jpg" in md and "broken.jpg" in md and "scored 'different'" in md


def test_identify_on_att_faces_with_an_empty_folder_and_a_broken_photo(tmp_path):
    people = tmp_path / "people"
    for k in (1, 2, 3, 4, 5):  # s4 is the stranger (every 4th)
        (people / f"s{k}").mkdir(parents=True)
        for photo in sorted((ATT / f"s{k}").glob("*.pgm"))[:6]:
            os.symlink(photo, people / f"s{k}" / photo.name)
    (people / "s6_empty").mkdir()
    (people / "s1" / "99.pgm").write_bytes(b"P5 broken")
    rc = main(["identify", str(people), "--no-cache", "--upsample", "0", "--out", str(tmp_path / "r"),
               "--progress", "off"])
    assert rc == 0
    data = json.loads((tmp_path / "r" / "identify.json").read_text())["result"]
    (engine,) = data["engines"]
    assert (engine["n_known"], engine["n_strangers"]) == (4, 1)
    assert engine["n_stranger_probes"] == 6 and engine["n_known_probes"] == 4 * 3 + 1
    assert engine["rank1"] >= 0.9
    assert [Path(p["item"]).name for p in data["problems"]] == ["s6_empty"]
    assert ("99.pgm", "unreadable") in {(Path(p["item"]).name, p["kind"]) for p in engine["problems"]}
    labels = [p["label"] for p in engine["points"]]
    assert labels[0] == "fixed threshold" and labels[-1].startswith("recommended")
    assert (tmp_path / "r" / "identify.html").is_file()


@pytest.mark.skipif("onnx" not in ENGINES, reason="the onnx engine is not registered")
def test_detect_on_dlib_testing_xml_with_dlib_and_onnx_side_by_side(tmp_path):
    assert main(["detect", str(DETECT_XML), "--engine", "dlib,onnx", "--out", str(tmp_path),
                 "--progress", "off"]) == 0
    engines = json.loads((tmp_path / "detect.json").read_text())["result"]["engines"]
    assert [e["engine"] for e in engines] == ["dlib", "onnx"]
    for engine in engines:
        assert engine["tp"] + engine["fn"] == 25  # testing.xml holds 25 boxes in 5 photos
        assert engine["recall"] >= 0.9 and engine["precision"] >= 0.9
    assert (tmp_path / "detect_files" / "det_onnx_0.png").is_file()
    md = (tmp_path / "detect.md").read_text()
    assert "| dlib |" in md and "| onnx |" in md and "detector='mmod'" in md  # the onnx engine's MMOD by default


def test_calibrate_from_dir_recommends_a_threshold(tmp_path):
    people = tmp_path / "people"
    for k in (1, 2, 3):
        (people / f"s{k}").mkdir(parents=True)
        for photo in sorted((ATT / f"s{k}").glob("*.pgm"))[:3]:
            os.symlink(photo, people / f"s{k}" / photo.name)
    assert main(["calibrate", "--from-dir", str(people), "--upsample", "0", "--no-cache",
                 "--out", str(tmp_path / "r"), "--progress", "off"]) == 0
    (c,) = json.loads((tmp_path / "r" / "calibrate.json").read_text())["result"]
    rec = c["recommendation"]
    assert rec["n_photos"] == 9 and rec["n_impostor"] == 9 and rec["n_household_pairs"] == 27  # 3 x 3 x 3
    # The stricter of the household fit, the model prior (models/manifest.toml) and the default 0.6.
    estimates = {"household": rec["household_threshold"], "prior": rec["prior_threshold"], "model default": 0.6}
    assert rec["max_distance"] == min(estimates.values()) == estimates[rec["binding"]]
    assert 0.3 < rec["max_distance"] < 0.6 and rec["prior_source"].startswith("LFW View 1 pairsDevTrain")


def test_unknown_engine_is_refused_with_the_valid_names(capsys):
    assert main(["detect", str(DETECT_XML), "--engine", "dlib,nope", "--no-cache"]) == 2
    assert "unknown engine 'nope'" in capsys.readouterr().err


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install -y chromium)")
def test_html_report_renders_in_headless_chromium(lfw_run, tmp_path):
    from PIL import Image

    out, _ = lfw_run
    shot = tmp_path / "shot.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1280,2400",
           f"--screenshot={shot}", (out / "report" / "pairs.html").as_uri()]
    subprocess.run(cmd, check=True, timeout=90, capture_output=True)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (2400, 1280)
    dark = (img.sum(axis=2) < 300).mean()        # text and table rules
    colour = (np.ptp(img, axis=2) > 80).mean()   # the plots' green/red/blue and the photo thumbnails
    assert dark > 0.005, "the page looks blank"
    assert colour > 0.005, "no plot or thumbnail pixels: the embedded PNGs did not render"
