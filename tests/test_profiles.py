"""Board profiles (camera/profiles.py): a profile fills in only the keys the config leaves unset, ``--profile``
replaces the file's, a bad name is one line and exit status 2, and ``run --profile pi-zero-2`` still names
the person in the hamilton clip."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from camera.app import Engines
from camera.cli import _config, build_parser
from camera.config import Config, parse_config
from camera.errors import ConfigError
from camera.profiles import EVERY_CAMERA, PROFILES, profile_names
from tests.conftest import AGEITGEY, HAMILTON, REPO, facecam

CAMERAS = '[cameras.door]\nsource = "door.mp4"\n\n[cameras.hall]\nsource = "hall.mp4"\n'


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    """A nested dict as dotted keys (leaves only)."""
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _expanded(name: str, cameras: list[str]) -> dict[str, object]:
    """PROFILES[name] with ``cameras.*`` spelled out per camera."""
    out: dict[str, object] = {}
    for k, v in PROFILES[name].items():
        keys = [f"cameras.{c}.{k.removeprefix(EVERY_CAMERA)}" for c in cameras] if k.startswith(EVERY_CAMERA) else [k]
        out.update(dict.fromkeys(keys, v))
    return out


@pytest.mark.parametrize("name", list(PROFILES))
def test_a_profile_sets_exactly_its_keys(name):
    cfg = parse_config(f'profile = "{name}"\n\n{CAMERAS}', "t.toml")
    before = _flat(cfg.model_dump(exclude_unset=True))
    after = _flat(cfg.with_profile().model_dump(exclude_unset=True))
    added = {k: v for k, v in after.items() if k not in before}
    assert added == _expanded(name, ["door", "hall"])
    assert all(after[k] == v for k, v in before.items()), "a profile changes nothing the config set"
    assert cfg.with_profile().with_profile() == cfg.with_profile(), "applying twice changes nothing more"


@pytest.mark.parametrize(("explicit", "key", "value"), [
    ('[engine]\ndetect_max_width = 800\n', "engine.detect_max_width", 800),
    ('[engine]\ndetector = "yunet"\n', "engine.detector", "yunet"),
    ('[engine]\nupsample = 1\n', "engine.upsample", 1),
    ('[engine]\nthreads = 1\n', "engine.threads", 1),
    ('[events]\njpeg_quality = 95\n', "events.jpeg_quality", 95),
    ('[cameras.door]\nsource = "door.mp4"\nfps_cap = 12\n', "cameras.door.fps_cap", 12),
])
def test_explicit_config_wins_over_the_profile(explicit, key, value):
    cameras = CAMERAS if "[cameras.door]" not in explicit else '[cameras.hall]\nsource = "hall.mp4"\n'
    cfg = parse_config(f'profile = "pi-zero-2"\n\n{explicit}\n{cameras}', "t.toml").with_profile()
    flat = _flat(cfg.model_dump())
    assert flat[key] == value
    others = {k: v for k, v in _expanded("pi-zero-2", ["door", "hall"]).items() if k != key}
    assert {k: flat[k] for k in others} == others


def test_a_flag_wins_over_the_profile_and_a_later_camera_gets_its_keys():
    cfg = parse_config('profile = "pi4"\n', "t.toml").with_overrides(**{"engine.detector": "yunet"})
    cfg = cfg.with_cameras({"default": {"source": "clip.mp4", "fps_cap": None}}).with_profile()
    assert cfg.engine.detector == "yunet" and cfg.engine.detect_max_width == PROFILES["pi4"]["engine.detect_max_width"]
    assert cfg.cameras["default"].fps_cap == PROFILES["pi4"]["cameras.*.fps_cap"]


def test_the_profile_flag_replaces_the_files_profile(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'profile = "pi5"\n\n{CAMERAS}')
    args = build_parser().parse_args(["run", "--config", str(path), "--profile", "pi-zero-2"])
    cfg = _config(args).with_profile()
    flat = _flat(cfg.model_dump())
    assert cfg.profile == "pi-zero-2"
    assert {k: flat[k] for k in _expanded("pi-zero-2", ["door", "hall"])} == _expanded("pi-zero-2", ["door", "hall"])


def test_an_unknown_profile_is_a_config_error_naming_the_valid_ones():
    with pytest.raises(ConfigError, match=rf"t.toml:2: profile: .*unknown profile 'pi3'; choose one of: "
                                          rf"{re.escape(profile_names())}$"):
        parse_config('log_level = "info"\nprofile = "pi3"\n', "t.toml")
    with pytest.raises(ConfigError, match="unknown profile 'pi3'"):
        Config().with_overrides(profile="pi3")


@pytest.mark.parametrize("how", ["check-config", "run --config", "run --profile"])
def test_a_bad_profile_name_is_one_line_and_exit_status_2(tmp_path, how):
    bad = tmp_path / "bad.toml"
    bad.write_text('profile = "pi3"\n')
    args = {"check-config": ["check-config", str(bad)],
            "run --config": ["run", "--config", str(bad), "--source", str(HAMILTON)],
            "run --profile": ["run", "--profile", "pi3", "--source", str(HAMILTON)]}[how]
    r = facecam(*args, "--data-dir", str(tmp_path / "d")) if how.startswith("run") else facecam(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("facecam: error: ") and f"unknown profile 'pi3'; choose one of: {profile_names()}" \
        in lines[0]
    if how != "run --profile":
        assert f"{bad}:1: profile:" in lines[0]


def test_check_config_shows_the_profile_it_applied(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'profile = "pi4"\n\n[engine]\nupsample = 1\n\n{CAMERAS}')
    r = facecam("check-config", str(path))
    assert r.returncode == 0, r.stderr
    assert "profile pi4 sets engine.detect_max_width = 480, " in r.stdout
    assert "cameras.door.fps_cap = 5, cameras.hall.fps_cap = 5" in r.stdout
    assert "(the config's own engine.upsample kept)" in r.stdout
    plain = tmp_path / "plain.toml"
    plain.write_text(CAMERAS)
    assert "profile" not in facecam("check-config", str(plain)).stdout


def test_the_docs_table_is_the_profiles_table():
    """docs/raspberry-pi.md shows each profile's values; they must be camera/profiles.py's."""
    text = (REPO / "docs" / "raspberry-pi.md").read_text(encoding="utf-8")
    header = re.search(r"^\| key \| (.+) \| without a profile \|$", text, re.M)
    assert header, "the profiles table of docs/raspberry-pi.md"
    names = header.group(1).split(" | ")
    assert names == list(PROFILES)
    shown = {}
    for key, cells in re.findall(r"^\| `([\w.*]+)` \| (.+) \|$", text, re.M):
        shown[key] = dict(zip(names, cells.split(" | ")[: len(names)], strict=True))
    assert set(shown) == {k for p in PROFILES.values() for k in p}
    assert all(shown[k][name] == str(v) for name, p in PROFILES.items() for k, v in p.items())


def test_threads_reach_the_onnxruntime_sessions():
    cfg = Config(profile="pi4").with_profile().engine.model_copy(update={"threads": 2, "detector": "mmod"})
    engine = Engines(Path(os.environ["FACECAM_MODEL_DIR"])).get(cfg)
    for stage in (engine.detector, engine.embedder):
        assert stage._session.get().get_session_options().intra_op_num_threads == 2


def test_run_with_the_pi_zero_2_profile_names_the_person(tmp_path):
    root = tmp_path / "data"
    photos = sorted((AGEITGEY / "identities" / "lin_manuel_miranda").iterdir())
    r = facecam("enroll", "--data-dir", str(root), "lin_manuel_miranda", *map(str, photos))
    assert r.returncode == 0, r.stderr
    config = tmp_path / "c.toml"
    config.write_text('profile = "pi5"\n')  # --profile replaces it
    out = tmp_path / "alerts.jsonl"
    r = facecam("run", "--config", str(config), "--profile", "pi-zero-2", "--data-dir", str(root), "--source",
                str(HAMILTON), "--jsonl", str(out), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "profile pi-zero-2 sets " in r.stderr and "cameras.default.fps_cap = 2" in r.stderr
    frames = int(re.search(r"default: (\d+) frames", r.stderr).group(1))
    assert frames <= 2 * 9.2 + 1, f"{frames} frames of a 9.2 s clip at fps_cap 2"
    people = {json.loads(line)["person"] for line in out.read_text().splitlines()}
    assert "lin_manuel_miranda" in people
