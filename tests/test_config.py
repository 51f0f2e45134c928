"""Config: unknown keys rejected with their line, bounds enforced, overrides per camera and from flags."""

import pytest

from camera.config import Config, find_line, parse_config
from camera.errors import ConfigError
from tests.conftest import facecam

GOOD = """
data_dir = "/tmp/x"
[engine]
name = "dlib"
upsample = 0

[matching]
max_distance = 0.55

[alerts]
jsonl = "-"
[[alerts.command]]
argv = ["notify-send", "{person}"]

[cameras.front_door]
source = "rtsp://user:pw@127.0.0.1/stream"
fps_cap = 5
engine = { upsample = 1 }

[cameras.garden]
source = "0"
[cameras.garden.matching]
max_distance = 0.5
"""


def test_good_config_and_per_camera_overrides():
    cfg = parse_config(GOOD)
    assert cfg.engine_for("front_door").upsample == 1
    assert cfg.engine_for("garden").upsample == 0
    assert cfg.max_distance_for("garden", 0.6) == 0.5
    assert cfg.max_distance_for("front_door", 0.6) == 0.55
    assert Config().max_distance_for("any", 0.6) == 0.6


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[engine]\nname = 'dlib'\nupsampel = 2\n", "<config>:3: engine.upsampel: unknown key"),
        ("colour = 1\n", "<config>:1: colour: unknown key"),
        ("[engine]\nupsample = 9\n", "<config>:2: engine.upsample: Input should be less than or equal to 3"),
        ("[engine]\nname = 'tensorflow'\n", "unknown engine 'tensorflow'"),
        ("[cameras.door]\nfps_cap = 5\n", "<config>:1: cameras.door.source: Field required"),
        ("[cameras.door]\nsource = 'x'\nfps_cap = -1\n", "<config>:3: cameras.door.fps_cap"),
        ("[cameras.'bad name']\nsource = 'x'\n", "camera name 'bad name'"),
        ("[engine\n", "not valid TOML"),
        ("[[alerts.webhook]]\nurl = 'ftp://x'\n", "alerts.webhook.0.url"),
    ],
)
def test_bad_configs_name_the_key(text, error):
    with pytest.raises(ConfigError) as exc:
        parse_config(text)
    assert error in str(exc.value)


def test_flag_overrides_and_their_validation():
    cfg = parse_config(GOOD).with_overrides(**{"engine.upsample": 2, "alerts.jsonl": None})
    assert cfg.engine.upsample == 2 and cfg.alerts.jsonl is not None and cfg.alerts.jsonl.path == "-"
    with pytest.raises(ConfigError, match="engine.upsample"):
        cfg.with_overrides(**{"engine.upsample": 7})


def test_find_line_in_tables_and_inline():
    text = "[a]\nx = 1\n[b.c]\ny = 2\n"
    assert find_line(text, ["b", "c", "y"]) == 4
    assert find_line(text, ["a", "x"]) == 2
    assert find_line(text, ["b", "c", "missing"]) == 3


def test_check_config_command(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    r = facecam("check-config", str(good))
    assert r.returncode == 0, r.stderr
    assert "OK (2 cameras" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("fps_cap = 5", "fps_cap = 5\nframerate = 5"))
    r = facecam("check-config", str(bad))
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and f"{bad}:18: cameras.front_door.framerate: unknown key" in err[0]
    r = facecam("check-config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "no such config file" in r.stderr


def test_embedder_and_detector_replace_the_engines_own():
    assert parse_config('[engine]\nembedder = "my_model-v2"\n', "t").engine.embedder == "my_model-v2"
    dlib = parse_config('[engine]\nname = "dlib"\nembedder = "mine"\ndetector = "cnn"\n', "t").engine
    assert (dlib.detector_name, dlib.embedder_name, dlib.upsample_times) == ("mmod", "mine", 0)
    assert Config().engine.detector_name == "mmod" and Config().engine.embedder_name == "dlib_resnet"
    hog = Config().with_overrides(**{"engine.name": "dlib"}).engine
    assert (hog.detector_name, hog.upsample_times, hog.embedder_name) == ("hog", 1, "dlib")
    with pytest.raises(ConfigError, match="embedder"):
        parse_config('[engine]\nembedder = "../etc/passwd"\n', "t")
