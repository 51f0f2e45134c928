"""What the command line loads: a plain ``facecam run`` does not carry the web stack (issue 15, "Memory").

fastapi, uvicorn, starlette and the app's routes cost ~14 MB of resident
memory; ``camera.cli`` reaches them only through ``camera.web.serve``, when a
web app is served. Checked in a fresh interpreter, since this one may have
imported them for other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

#: modules that only serving the web app needs
WEB_STACK = ("fastapi", "uvicorn", "starlette", "jinja2", "camera.web.app", "camera.web.api", "camera.web.pages",
             "camera.web.server", "camera.web.serve")

LOADED_AFTER_PARSING_RUN = """
import json, sys
from camera.cli import build_parser
build_parser().parse_args(["run", "--source", "clip.mp4"])
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_cli_leaves_the_web_stack_out() -> None:
    """Regression (issue 15): camera.cli imported the web app at module top, +14 MB for every `facecam run`."""
    done = subprocess.run([sys.executable, "-c", LOADED_AFTER_PARSING_RUN], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    loaded = json.loads(done.stdout)
    assert [m for m in loaded if m.split(".")[0] in WEB_STACK or m in WEB_STACK] == []


def test_serving_the_web_app_loads_it() -> None:
    """The deferred import still resolves: the module the cli imports when it serves exists and has ``serve``."""
    code = "import camera.web.serve as s, sys; print(callable(s.serve), 'fastapi' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    assert done.stdout.split() == ["True", "True"]
