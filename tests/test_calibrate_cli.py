"""``facecam calibrate``: recommend max_distance for the enrolled gallery and write it into a config.

Real people (AT&T/ORL faces) are enrolled through the CLI into a temporary
data directory; the written threshold must be the printed one, and a config
with comments must keep them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from camera.errors import ConfigError
from camera.evaluation.gallery_calibrate import set_max_distance

ROOT = Path(__file__).resolve().parents[1]
ATT = ROOT.parent / "shared" / "data" / "ChiTatZhang+server_graduate" / "att_faces"


def _facecam(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "camera", *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """Three people, two photos each, enrolled through the CLI with the default engine."""
    if not ATT.is_dir():
        pytest.skip(f"{ATT} is absent")
    tmp = tmp_path_factory.mktemp("calibrate")
    people = tmp / "people"
    for k in (1, 2, 3):
        (people / f"s{k}").mkdir(parents=True)
        for photo in sorted((ATT / f"s{k}").glob("*.pgm"))[:2]:
            os.symlink(photo, people / f"s{k}" / photo.name)
    data = tmp / "data"
    done = _facecam("enroll", "--from-dir", str(people), "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    return data


def _printed(out: str) -> float:
    m = re.search(r"recommended max_distance (\d+\.\d{4}) ", out)
    assert m, out
    return float(m.group(1))


def test_calibrate_writes_the_printed_threshold_into_a_new_config(gallery, tmp_path):
    cfg = tmp_path / "cfg.toml"
    done = _facecam("calibrate", "--data-dir", str(gallery), "--write", str(cfg))
    assert done.returncode == 0, done.stderr
    t = _printed(done.stdout)
    assert 0.3 < t <= 0.6  # never looser than the model default
    assert "expected stranger false-accept rate" in done.stdout and "6 photos" in done.stdout
    assert tomllib.loads(cfg.read_text())["matching"]["max_distance"] == t
    check = _facecam("check-config", str(cfg))
    assert check.returncode == 0, check.stderr


def test_calibrate_keeps_comments_and_other_settings(gallery, tmp_path):
    cfg = tmp_path / "cfg.toml"
    text = ("# my cameras\n[engine]\nname = \"dlib\"  # keep dlib\n\n"
            "[matching]\n# stricter than the default\nmax_distance = 0.55  # set by hand\n")
    cfg.write_text(text)
    done = _facecam("calibrate", "--data-dir", str(gallery), "--config", str(cfg), "--write", str(cfg),
                    "--target-far", "0.001")
    assert done.returncode == 0, done.stderr
    t = _printed(done.stdout)
    new = cfg.read_text()
    assert new == text.replace("max_distance = 0.55  # set by hand", f"max_distance = {t:.4f}  # set by hand")
    assert tomllib.loads(new)["matching"]["max_distance"] == t


@pytest.mark.parametrize(("before", "after", "error"), [
    ("", "[matching]\nmax_distance = 0.5000\n", None),
    ("# only a comment\n", "# only a comment\n\n[matching]\nmax_distance = 0.5000\n", None),
    ("[matching]  # the table\n\n[alerts]\ncooldown_s = 5\n",
     "[matching]  # the table\nmax_distance = 0.5000\n\n[alerts]\ncooldown_s = 5\n", None),
    ("data_dir = \"/x\"\nmatching.max_distance = 0.7 # old\n",
     "data_dir = \"/x\"\nmatching.max_distance = 0.5000 # old\n", None),
    ("[engine]\nmax_distance = 0.7\n", None, "unknown key"),       # invalid before: refused
    ("matching = { max_distance = 0.7 }\n", None, "would not validate"),  # inline table: refused
])
def test_set_max_distance_edits_one_line_or_refuses(tmp_path, before, after, error):
    cfg = tmp_path / "c.toml"
    cfg.write_text(before)
    if error is None:
        assert set_max_distance(cfg, 0.5).matching.max_distance == 0.5
        assert cfg.read_text() == after
    else:
        with pytest.raises(ConfigError, match=error):
            set_max_distance(cfg, 0.5)
        assert cfg.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]  # no temporary file left behind


def test_set_max_distance_creates_a_missing_file(tmp_path):
    cfg = tmp_path / "new.toml"
    set_max_distance(cfg, 0.4567)
    assert cfg.read_text() == "[matching]\nmax_distance = 0.4567\n"


def test_negatives_count_as_impostor_comparisons(gallery, tmp_path):
    """Photos of people not enrolled (ATT s10..s13, plus one unreadable file) are embedded by the
    gallery's own engine and reported; the unreadable one is skipped, not fatal."""
    neg = tmp_path / "strangers"
    neg.mkdir()
    for k in (10, 11, 12, 13):
        for photo in sorted((ATT / f"s{k}").glob("*.pgm"))[:2]:
            os.symlink(photo, neg / f"s{k}_{photo.name}")
    (neg / "broken.jpg").write_bytes(b"not a photo")
    done = _facecam("calibrate", "--data-dir", str(gallery), "--negatives-dir", str(neg), "-v")
    assert done.returncode == 0, done.stderr
    assert "skipping" in done.stderr and "broken.jpg" in done.stderr
    m = re.search(r"negatives: (\d+) of 9 photos gave a face", done.stderr)
    assert m and int(m.group(1)) >= 6, done.stderr
    assert 0.3 < _printed(done.stdout) <= 0.6
