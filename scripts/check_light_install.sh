#!/usr/bin/env bash
# The daemon's install, from nothing: `pip install .` without extras in a fresh virtual
# environment, then `facecam demo` and `facecam run` (onnx engine) on the hamilton clip.
# Prints the venv's size before and after the install (MB) and fails if dlib, matplotlib,
# scikit-image, tqdm or onnx were installed or imported.
#
#   bash scripts/check_light_install.sh [DATA]      # DATA: ../shared/data by default
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
data="${1:-$repo/../shared/data}"
clip="$data/ageitgey+face_recognition/video/short_hamilton_clip.mp4"
photo="$data/ageitgey+face_recognition/identities/lin_manuel_miranda/lin-manuel-miranda.png"
work=$(mktemp -d /tmp/facecam-light-XXXXXX)
trap 'rm -rf "$work"' EXIT
# a copy of the committed tree: a build must not leave files in the checkout
mkdir "$work/src"
git archive HEAD | tar -x -C "$work/src"
"${PYTHON:-python3}" -m venv "$work/venv"
before=$(du -sm "$work/venv" | cut -f1)
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$work/src"
after=$(du -sm "$work/venv" | cut -f1)
echo "venv: ${before} MB new, ${after} MB after pip install . (no extras)"
for pkg in dlib dlib-bin matplotlib scikit-image tqdm onnx face-recognition; do
  if "$work/venv/bin/python" -m pip show --quiet "$pkg" >/dev/null 2>&1; then
    echo "check_light_install: $pkg was installed" >&2; exit 1
  fi
done
cd "$work"  # not the checkout: the installed package is what runs
export FACECAM_MODEL_DIR="$work/models"
"$work/venv/bin/facecam" demo 2>"$work/demo.log" | tee "$work/demo.jsonl"
grep -q '"person": "eileen_collins"' "$work/demo.jsonl"
"$work/venv/bin/facecam" enroll --data-dir "$work/data" lin_manuel_miranda "$photo" 2>/dev/null
"$work/venv/bin/facecam" run --data-dir "$work/data" --source "$clip" --jsonl "$work/alerts.jsonl" 2>"$work/run.log"
grep -q '"person": "lin_manuel_miranda"' "$work/alerts.jsonl"
"$work/venv/bin/python" - <<'PY'
import sys
import camera.cli, camera.app, camera.pipeline, camera.detect.mmod, camera.embed.resnet  # noqa: E401
bad = sorted({m.split(".")[0] for m in sys.modules} & {"dlib", "matplotlib", "skimage", "tqdm", "onnx", "face_recognition"})
print("imported by the daemon's modules:", bad or "none of dlib, matplotlib, skimage, tqdm, onnx")
sys.exit(1 if bad else 0)
PY
echo "check_light_install: ok (demo named eileen_collins; run named lin_manuel_miranda)"
