"""The daemon's install is light: ``facecam demo`` and ``facecam run`` (onnx engine) import no optional extra.

dlib and face_recognition (the ``dlib`` extra), matplotlib and tqdm (``eval``),
scikit-image and the onnx package (neither is a dependency any more) are
made unimportable in a child interpreter; the demo and a run on the
hamilton clip must still work, and none of them may be loaded. The fresh
virtual environment itself is built by ``scripts/check_light_install.sh``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import AGEITGEY, HAMILTON, REPO

BLOCKED = ("dlib", "_dlib_pybind11", "face_recognition", "matplotlib", "skimage", "tqdm", "onnx", "scipy")

CHILD = r"""
import json, sys
BLOCKED = sys.argv[6].split(",")
for name in BLOCKED:
    sys.modules[name] = None  # every later `import name` (and of its submodules) raises ImportError
from camera.cli import main
codes = [main(["demo", "--data-dir", sys.argv[1]]),
         main(["enroll", "--data-dir", sys.argv[2], "lin_manuel_miranda", sys.argv[3]]),
         main(["run", "--data-dir", sys.argv[2], "--source", sys.argv[4], "--jsonl", sys.argv[5]])]
loaded = sorted({m.split(".")[0] for m, mod in sys.modules.items() if mod is not None} & set(BLOCKED))
print(json.dumps({"codes": codes, "loaded": loaded}))
"""


def test_demo_and_run_need_no_optional_extra(tmp_path: Path) -> None:
    alerts = tmp_path / "alerts.jsonl"
    photo = AGEITGEY / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "demo"), str(tmp_path / "data"), str(photo),
                           str(HAMILTON), str(alerts), ",".join(BLOCKED)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"codes": [0, 0, 0], "loaded": []}, done.stderr[-3000:]
    named = {json.loads(line)["person"] for line in alerts.read_text().splitlines()}
    assert "lin_manuel_miranda" in named
