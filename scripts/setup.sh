#!/usr/bin/env bash
# Set up facecam in ./.venv without ever compiling dlib.
#
#   bash scripts/setup.sh          # the daemon: onnx engine and every sink (no dlib, no plotting)
#   bash scripts/setup.sh --dlib   # also the dlib engine (face_recognition on prebuilt dlib-bin)
#   bash scripts/setup.sh --test   # everything the tests need: dlib, evaluation, pytest, ruff,
#                                  # and (as root or with sudo) Debian's mosquitto, dbus-daemon, chromium
#   bash scripts/setup.sh --picamera  # on a Raspberry Pi: the camera (see below); combines with the others
#   bash scripts/setup.sh --check  # only say what this system is (Raspberry Pi model, 64-bit), then stop
#
# 64-bit only: PyPI has no 32-bit ARM (armv7l/armhf) wheels for onnxruntime,
# opencv-python-headless or numpy, so on a 32-bit system (kernel, Debian
# architecture, C library or Python) the script stops at once, before any
# download, with one line saying what to install instead.
#
# --picamera (Raspberry Pi only; docs/raspberry-pi.md): installs Debian's
# rpicam-apps (rpicam-apps-lite, or libcamera-apps on older images) unless
# rpicam-vid is already there; facecam's default `picamera` source runs it
# and needs nothing from Python's side. For the optional in-process
# `picamera2` source it also installs python3-picamera2 and makes the venv
# with --system-site-packages, so that Debian's picamera2 is visible; where
# the system's numpy is 1.x (bookworm), picamera2 and simplejpeg are built
# for it and fail under numpy 2, so the venv then gets numpy<2 too (and with
# it the last OpenCV built for numpy 1). An existing .venv is kept.
#
# face-recognition is installed with --no-deps: its metadata pulls the dlib
# source build. dlib-bin (prebuilt wheels, same `import dlib`) comes in
# through the `dlib` extra instead. The one thing compiled is facecam's own
# small C file (camera/dlibport/_fast.c, under a second), and only where a C
# compiler is found. Last, YuNet's model is fetched (a download, sha256-pinned; where there is no
# internet, facecam uses MMOD and the script says how to add YuNet later).
set -euo pipefail
cd "$(dirname "$0")/.."

extras="" test_mode="" picamera="" check=""
for arg in "$@"; do
  case "$arg" in
    --dlib) [ -n "$test_mode" ] || extras="[dlib]" ;;
    --test) extras="[dlib,eval,test]"; test_mode=1 ;;
    --picamera) picamera=1 ;;
    --check) check=1 ;;
    *) echo "setup: unknown option $arg (use --dlib, --test, --picamera or --check)" >&2; exit 2 ;;
  esac
done
PYTHON="${PYTHON:-python3}"
# Where /proc and /sys are read from (tests/test_setup_script.py points it at a made-up tree).
ROOT="${FACECAM_SETUP_ROOT:-}"

# The board's name from the device tree ("Raspberry Pi 5 Model B Rev 1.0"; NUL-terminated there), or nothing.
board_model() {
  local f
  for f in "$ROOT/proc/device-tree/model" "$ROOT/sys/firmware/devicetree/base/model"; do
    if [ -r "$f" ]; then tr -d '\0' <"$f"; return 0; fi
  done
}

# What is 32-bit about this system, or nothing when it is 64-bit throughout. A Raspberry Pi 4 or 5 on
# Raspberry Pi OS (32-bit) runs a 64-bit kernel under an armhf userland, so the kernel alone says little.
why_32bit() {
  local kernel arch bits pybits why=""
  kernel=$(uname -m 2>/dev/null || true)
  arch=$(dpkg --print-architecture 2>/dev/null || true)
  bits=$(getconf LONG_BIT 2>/dev/null || true)
  pybits=$("$PYTHON" -c 'import struct; print(struct.calcsize("P") * 8)' 2>/dev/null || true)
  case "$kernel" in armv6l | armv7l | armv8l | arm | i386 | i486 | i586 | i686) why="$why, kernel $kernel" ;; esac
  case "$arch" in armhf | armel | i386) why="$why, userland $arch" ;; esac
  if [ "$bits" = 32 ]; then why="$why, getconf LONG_BIT 32"; fi
  if [ "$pybits" = 32 ]; then why="$why, $PYTHON is 32-bit"; fi
  echo "${why#, }"
}

model=$(board_model)
kernel_arch=$(uname -m 2>/dev/null || echo unknown)
deb_arch=$(dpkg --print-architecture 2>/dev/null || true)
machine="$kernel_arch${deb_arch:+, $deb_arch}"
bits32=$(why_32bit)
if [ -n "$bits32" ]; then
  case "$machine" in
    *arm* | *aarch64*) instead="Raspberry Pi OS (64-bit) or Debian arm64" ;;
    *) instead="a 64-bit (amd64 or arm64) system" ;;
  esac
  echo "setup: error: ${model:+$model: }this is a 32-bit system ($bits32) and facecam needs a 64-bit one:" \
       "PyPI has no 32-bit wheels of onnxruntime, opencv-python-headless or numpy (pip would compile for" \
       "hours, then fail); install $instead and run this again" >&2
  exit 1
fi
if [ -n "$model" ]; then
  echo "setup: ${model}, 64-bit ($machine)" >&2
elif [ -n "$check" ] || [ -n "$picamera" ]; then
  echo "setup: not a Raspberry Pi, 64-bit ($machine)" >&2
fi
case "$model" in *"Raspberry Pi"*) is_pi=1 ;; *) is_pi="" ;; esac
if [ -n "$picamera" ] && [ -z "$is_pi" ]; then
  echo "setup: error: --picamera sets up a Raspberry Pi camera, and this is not a Raspberry Pi" \
       "(its device tree names no Raspberry Pi model)" >&2
  exit 2
fi
if [ -n "$check" ]; then
  exit 0
fi

SUDO="" apt_updated=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_update() { if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi; }
# Debian packages not yet installed, installed without their recommendations.
apt_install() {
  local missing="" p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
}

if [ -n "$test_mode" ]; then
  # Services and tools the tests start themselves: an MQTT broker, a D-Bus
  # daemon for desktop notifications, headless Chromium for the HTML report.
  apt_install mosquitto dbus-daemon chromium
fi

venv_options="" pins=""
if [ -n "$picamera" ]; then
  if ! command -v rpicam-vid >/dev/null && ! command -v libcamera-vid >/dev/null; then
    apt_update
    camera_apps=""
    for p in rpicam-apps-lite rpicam-apps libcamera-apps; do
      if apt-cache show "$p" >/dev/null 2>&1; then camera_apps=$p; break; fi
    done
    if [ -z "$camera_apps" ]; then
      echo "setup: error: rpicam-apps is not in this system's package sources (it comes from Raspberry Pi's" \
           "apt archive, which Raspberry Pi OS has); install Raspberry Pi OS (64-bit), or add that archive" >&2
      exit 1
    fi
    apt_install "$camera_apps"
  fi
  if apt-cache show python3-picamera2 >/dev/null 2>&1 || dpkg -s python3-picamera2 >/dev/null 2>&1; then
    apt_install python3-picamera2
  else
    echo "setup: python3-picamera2 is not in the package sources: the picamera2 source will not work," \
         "the default picamera source (rpicam-vid) does" >&2
  fi
  venv_options="--system-site-packages"
  system_numpy=$("$PYTHON" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)
  case "$system_numpy" in 1.*) pins="numpy<2" ;; esac
fi

if [ ! -x .venv/bin/python ]; then
  if ! venv_err=$("$PYTHON" -m venv $venv_options .venv 2>&1); then
    case "$venv_err" in
      *ensurepip*)
        # Debian and Ubuntu keep venv's pip (ensurepip) in a package of its own, which a plain
        # Debian install lacks (scripts/check_arm64.sh found this on bookworm arm64)
        rm -rf .venv
        py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        echo "setup: $PYTHON cannot make a venv without Debian's python$py_version-venv; installing it" >&2
        apt_install "python$py_version-venv"
        "$PYTHON" -m venv $venv_options .venv ;;
      *) echo "$venv_err" >&2; exit 1 ;;
    esac
  fi
elif [ -n "$picamera" ] && ! grep -qi '^include-system-site-packages *= *true' .venv/pyvenv.cfg; then
  echo "setup: .venv was made without --system-site-packages, so it cannot see Debian's picamera2;" \
       "remove it (rm -rf .venv) and run this again for the picamera2 source (picamera works as it is)" >&2
  venv_options="" pins=""
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# With --system-site-packages, --ignore-installed keeps facecam's own dependencies in the venv rather
# than mixing in Debian's older copies (only picamera2 and what it needs come from the system).
.venv/bin/python -m pip install --quiet ${venv_options:+--ignore-installed} -e ".${extras}" $pins
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
if [ -n "$picamera" ]; then
  if command -v rpicam-vid >/dev/null || command -v libcamera-vid >/dev/null; then
    echo "setup: the picamera source (rpicam-vid) is ready; try .venv/bin/python scripts/pi_camera_smoke.py" >&2
  fi
  if err=$(.venv/bin/python -c "import picamera2" 2>&1); then
    echo "setup: the picamera2 source can load Debian's picamera2 too" >&2
  else
    echo "setup: the picamera2 source cannot load Debian's picamera2 here ($(echo "$err" | tail -n 1));" \
         "the default picamera source (rpicam-vid) does not need it" >&2
  fi
fi
# YuNet (OpenCV Zoo's face detector, MIT, 230 KB) is in no package: it is downloaded, pinned by sha256,
# into the model folder `facecam` reads. facecam detects with it where it is there, else with MMOD
# (converted from face_recognition_models), which misses faces under ~80 px (docs/engines.md).
if ! fetched=$(.venv/bin/python scripts/fetch_models.py yunet_2026may 2>&1); then
  echo "setup: YuNet not fetched ($(echo "$fetched" | tail -n 1)); facecam detects with MMOD until" \
       ".venv/bin/python scripts/fetch_models.py yunet_2026may [--from A_COPY] succeeds" >&2
fi
echo "setup: ready (.venv/bin/facecam)" >&2
