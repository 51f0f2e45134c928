#!/usr/bin/env bash
# Set up facecam in ./.venv without ever compiling dlib.
#
#   bash scripts/setup.sh          # the daemon: onnx engine and every sink (no dlib, no plotting)
#   bash scripts/setup.sh --dlib   # also the dlib engine (face_recognition on prebuilt dlib-bin)
#   bash scripts/setup.sh --test   # everything the tests need: dlib, evaluation, pytest, ruff,
#                                  # and (as root or with sudo) Debian's mosquitto, dbus-daemon, chromium
#
# face-recognition is installed with --no-deps: its metadata pulls the dlib
# source build. dlib-bin (prebuilt wheels, same `import dlib`) comes in
# through the `dlib` extra instead. The one thing compiled is facecam's own
# small C file (camera/dlibport/_fast.c, under a second), and only where a C
# compiler is found.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
case "$mode" in
  "") extras="" ;;
  --dlib) extras="[dlib]" ;;
  --test) extras="[dlib,eval,test]" ;;
  *) echo "setup: unknown option $mode (use --dlib or --test)" >&2; exit 2 ;;
esac

if [ "$mode" = "--test" ]; then
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
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet --no-deps "face-recognition==1.3.0"
  # Fail here, not later, if anything would need the dlib source package.
  .venv/bin/python -c "import dlib, face_recognition, face_recognition_models" \
    || { echo "setup: face_recognition did not import; see the error above" >&2; exit 1; }
fi
# The optional C loops (camera/dlibport/_fast.c, built by pip when a C compiler
# and the Python headers are there); without them the same results come from numpy.
.venv/bin/python -c "import camera.dlibport._fast" 2>/dev/null \
  || echo "setup: camera.dlibport._fast not built (no C compiler or Python headers?): landmarks and chips" \
          "run in numpy, ~2.5 ms a face slower; install gcc (and python3-dev) and rerun to build it" >&2
echo "setup: ready (.venv/bin/facecam)" >&2
