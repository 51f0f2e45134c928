"""The README's and docs/'s examples work as printed (copy-paste must work), and the README stays a short guide.

Every ```toml block of README.md and docs/*.md is a valid facecam config;
every ```ini block that is a ``models.toml`` entry is a valid user model
entry; every ```json alert payload is what the code sends; the example
config is valid with and without its commented keys and names every key.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from camera.config import Config, load_config, parse_config
from camera.detect import RUNTIMES
from camera.types import Alert
from models.user import DetectorSpec, EmbedderSpec
from tests.conftest import REPO

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
README_MAX_BYTES = 12 * 1024
EXAMPLE = REPO / "facecam.example.toml"


def blocks(path: Path, lang: str) -> list[str]:
    """The fenced code blocks of ``path`` tagged ``lang``."""
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def cases(paths: list[Path], lang: str) -> list:
    """``pytest.param(path, block)`` per block, with ids naming the file and the block."""
    return [pytest.param(p, b, id=f"{p.relative_to(REPO)}-{lang}{i}")
            for p in paths for i, b in enumerate(blocks(p, lang))]


TOML_CASES = cases([README, *DOCS], "toml")
MANIFEST_CASES = [c for c in cases([README, *DOCS], "ini") if re.search(r'^kind = "', c.values[1], re.M)]
JSON_CASES = [c for c in cases([README, *DOCS], "json") if '"kind"' in c.values[1]]

#: sinks that rules in one snippet name but other snippets define, as the smallest valid definitions
SINK_STUBS = {
    "mqtt": "[[alerts.mqtt]]\n",
    "desktop": "[[alerts.desktop]]\n",
    "webhook": "[[alerts.webhook]]\nurl = 'http://127.0.0.1/'\n",
    "command": "[[alerts.command]]\nargv = ['true']\n",
}


def with_named_sinks(block: str) -> str:
    """``block`` plus a stub for each sink its ``[[alerts.rules]]`` name but it does not define."""
    rules = tomllib.loads(block).get("alerts", {}).get("rules", [])
    named = {s for rule in rules for s in rule.get("sinks", [])}
    missing = [kind for kind in SINK_STUBS if kind in named and f"[[alerts.{kind}]]" not in block]
    return block + "\n" + "".join(SINK_STUBS[kind] for kind in missing)


def test_readme_has_toml_examples():
    assert len(blocks(README, "toml")) >= 6


def test_readme_is_a_short_guide():
    size = len(README.read_bytes())
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; keep it under {README_MAX_BYTES} (depth goes to docs/)"


def test_readme_links_to_docs_point_at_files():
    links = re.findall(r"\]\((docs/[^)#\s]*)", README.read_text(encoding="utf-8"))
    assert links, "the README links to its docs pages"
    missing = sorted({link for link in links if not (REPO / link).is_file()})
    assert not missing, f"README.md links to missing files: {missing}"


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_docs_links_to_pages_point_at_files(page: Path):
    links = re.findall(r"\]\(([^)#\s:]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8"))
    missing = sorted({link for link in links if not (page.parent / link).is_file()})
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_docs_have_toml_examples():
    assert DOCS, "docs/ has pages"
    assert len([c for c in TOML_CASES if c.values[0] != README]) >= 10


@pytest.mark.parametrize(("path", "block"), TOML_CASES)
def test_toml_block_is_a_valid_config(path: Path, block: str):
    parse_config(with_named_sinks(block), str(path.relative_to(REPO)))


def test_docs_have_models_toml_examples_of_both_kinds():
    kinds = {e["kind"] for c in MANIFEST_CASES for e in tomllib.loads(_pinned(c.values[1])).values()}
    assert kinds == {"detector", "embedder"}


@pytest.mark.parametrize(("path", "block"), MANIFEST_CASES)
def test_models_toml_block_is_a_valid_entry(path: Path, block: str):
    for name, entry in tomllib.loads(_pinned(block)).items():
        if entry["kind"] == "embedder":
            EmbedderSpec.from_entry(name, entry)
        else:
            DetectorSpec.from_entry(name, entry, tuple(RUNTIMES))


def _pinned(block: str) -> str:
    """The placeholder sha256 of the docs replaced by a well-formed one."""
    return block.replace('"<64 hex digits>"', '"' + "0" * 64 + '"')


def test_docs_show_the_alert_payload():
    assert {c.values[0] for c in JSON_CASES} >= {README, REPO / "docs" / "alerts.md"}


@pytest.mark.parametrize(("path", "block"), JSON_CASES)
def test_json_alert_example_is_what_the_code_sends(path: Path, block: str):
    shown = json.loads(block)
    assert Alert.from_json_dict(shown).to_json_dict() == shown


def test_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert set(cfg.cameras) == {"front_door", "hall"}
    assert (cfg.engine.name, cfg.engine.detector, cfg.engine.upsample) == ("onnx", None, 0)  # the engine's default


def test_example_config_is_valid_with_its_commented_keys():
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"^# (?=\[|[a-z_]+ = )", "", text, flags=re.M)
    assert uncommented.count("\n[") > text.count("\n["), "the example has commented-out sections"
    parse_config(uncommented, "facecam.example.toml, uncommented")


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        for t in _types(field.annotation):
            if isinstance(t, type) and issubclass(t, BaseModel):
                names |= _field_names(t)
    return names


def _types(annotation: object) -> list[object]:
    args = getattr(annotation, "__args__", ())
    return [annotation, *(t for a in args for t in _types(a))]


def test_example_config_names_every_key():
    text = EXAMPLE.read_text(encoding="utf-8")
    missing = sorted(n for n in _field_names(Config)
                     if not re.search(rf"(^|[\s{{])(# )?{n}\s*=|^#? ?\[\[?[\w.]*\b{n}\b", text, re.M))
    assert not missing, f"facecam.example.toml does not show: {missing}"


def test_every_test_the_promises_page_names_exists():
    """docs/promises.md names the test that keeps each promise: a renamed or deleted test must show here."""
    text = (REPO / "docs" / "promises.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)", text)
    assert len(named) > 40, named
    missing = [f"{f}::{t}" for f, t in named
               if not (REPO / f).is_file() or not re.search(rf"^def {t}\(", (REPO / f).read_text(), re.M)]
    assert not missing, missing
