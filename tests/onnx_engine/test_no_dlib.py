"""The onnx engine and the drop-in API run where dlib cannot be imported at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import AGEITGEY, REPO

# sys.modules[name] = None makes every later ``import name`` raise ImportError.
CHILD = r"""
import json, sys
for blocked in ("dlib", "_dlib_pybind11", "face_recognition", "face_recognition.api"):
    sys.modules[blocked] = None
from pathlib import Path
from camera.detect.config import DetectConfig
from camera.engine import create_engine
from camera.imageio import load_image
import camera.face_recognition as fr

cache, photo = Path(sys.argv[1]), sys.argv[2]
engine = create_engine("onnx", DetectConfig(detector="mmod", upsample=1), cache)
rgb = load_image(photo)
det = engine.detector.detect(rgb)
emb = engine.embedder.embed(rgb, det)
fr.set_model_cache(cache)
enc = fr.face_encodings(rgb)
try:
    import dlib  # noqa: F401
    dlib_importable = True
except ImportError:
    dlib_importable = False
loaded = sorted(m for m in sys.modules if sys.modules[m] is not None
                and (m.split(".")[0] in ("dlib", "_dlib_pybind11", "face_recognition")))
print(json.dumps({"faces": len(det), "dims": list(emb.vectors.shape), "model_id": emb.model_id,
                  "dropin": len(enc), "dlib_importable": dlib_importable, "loaded": loaded}))
"""


def test_onnx_engine_detects_and_embeds_without_dlib(model_cache: Path) -> None:
    photo = AGEITGEY / "multi" / "two_people.jpg"
    done = subprocess.run([sys.executable, "-c", CHILD, str(model_cache), str(photo)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"faces": 2, "dims": [2, 128], "model_id": "dlib_resnet_v1/sp5-chip150-pad0.25",
                      "dropin": 2, "dlib_importable": False, "loaded": []}
