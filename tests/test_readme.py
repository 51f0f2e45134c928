"""The README's and the example config's TOML snippets are valid configs (copy-paste must work)."""

import re

import pytest

from camera.config import load_config, parse_config
from tests.conftest import REPO

BLOCKS = re.findall(r"```toml\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)


def test_readme_has_toml_examples():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_toml_block_is_valid(block):
    if "[[alerts.rules]]" in block and "sinks = [\"mqtt\"]" in block:
        # rules name sinks defined in the other snippets; validate them together
        block = block + "\n[[alerts.mqtt]]\n[[alerts.desktop]]\n[[alerts.webhook]]\nurl = 'http://127.0.0.1/'\n"
    parse_config(block, "README.md")


def test_example_config_is_valid():
    cfg = load_config(REPO / "facecam.example.toml")
    assert set(cfg.cameras) == {"front_door", "hall"}
