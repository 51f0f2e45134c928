"""The package's shape: no import cycles, imports at module top, and every config key read by some stage.

Import cycles used to hide behind ~85 function-level imports (``visits`` and
``pipeline``, the engines and ``models.fetch``); both are checked here on the
source itself, so a cycle or a hidden import added later fails at once.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from camera.alerts.config import SINK_KINDS
from camera.config import Config
from tests.conftest import REPO

PACKAGES = ("camera", "models")
#: optional dependencies, imported where they are used with a message that says which extra to install
OPTIONAL = {"dlib", "face_recognition", "face_recognition.api", "tqdm", "matplotlib", "matplotlib.pyplot",
            "matplotlib.patches", "picamera2",
            "onnx", "onnxruntime.quantization"}  # facecam[int8]: making the int8 descriptor (models/quantize.py)
#: project modules imported where they are used because only some commands need them and they are large: the
#: web stack (~14 MB resident) only where a web app is served (issue 15; tests/test_cli_imports.py)
DEFERRED = {"camera.web.serve"}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (not inside functions, not under TYPE_CHECKING)."""
    out: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        elif isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            todo += node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + [s for h in node.handlers for s in h.body] + node.orelse + node.finalbody
        elif isinstance(node, ast.ClassDef):
            todo += node.body
    return out


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = {m for node in _top_level_imports(tree) for m in _imported(node) if m in MODULES and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 60 and "camera.pipeline" in graph["camera.app"]
    assert cycles(graph) == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_imports_are_at_module_top_except_optional_dependencies() -> None:
    hidden = []
    for path in MODULES.values():
        tree = ast.parse(path.read_text(), str(path))
        top = {id(n) for n in _top_level_imports(tree)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if not set(mods) <= OPTIONAL | DEFERRED:
                    hidden.append(f"{path.relative_to(REPO)}:{node.lineno}: {', '.join(mods)}")
    assert hidden == []


def test_modules_import_on_their_own_in_a_fresh_interpreter() -> None:
    """Each stage package's entry point, first in a new interpreter (a cycle would trip one of them)."""
    entry = ["camera.pipeline", "camera.events.visits", "camera.alerts.sinks.mqtt", "camera.detect", "camera.embed",
             "camera.engine", "camera.config", "camera.service", "camera.cli", "models.fetch", "models.convert",
             "camera.face_recognition", "camera.evaluation.cli"]
    code = "; ".join(f"import importlib; importlib.import_module({m!r})" for m in entry[:1])
    for m in entry:
        code = f"import importlib; importlib.import_module({m!r})"
        r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{m}: {r.stderr[-2000:]}"


# ----- every configuration key is read somewhere ------------------------------------------------------------


def _config_keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, field name) for every field of ``model`` and of the models inside it."""
    out = []
    for name, field in model.model_fields.items():
        out.append((prefix + name, name))
        for sub in _models_in(field.annotation):
            out += _config_keys(sub, f"{prefix}{name}.")
    return out


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _read_attributes() -> set[str]:
    """Attribute names read anywhere in ``camera`` outside pydantic validators."""
    names: set[str] = set()
    for path in (REPO / "camera").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        validators = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and any(
            "validator" in ast.unparse(d) for d in f.decorator_list)]
        skip = {id(n) for f in validators for n in ast.walk(f)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and id(n) not in skip}
    return names


def test_every_config_key_is_read_by_some_stage() -> None:
    read = _read_attributes() | set(SINK_KINDS)  # AlertsConfig.sinks_of reads the sink lists by these names
    keys = _config_keys(Config)
    assert len(keys) > 100
    unread = [dotted for dotted, name in keys if name not in read]
    assert unread == [], f"config keys no code reads: {unread}"
