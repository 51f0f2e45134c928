"""scripts/setup.sh knows the machine: it names a Raspberry Pi, refuses any 32-bit system at once (before
apt or pip), and ``--picamera`` sets up the camera route on a Pi.

The script runs for real, from a copy in tmp_path (so that nothing it gets
past could touch this checkout's .venv). What is faked is only the machine it
asks about: stand-ins for ``uname``, ``dpkg``, ``getconf`` and ``python3``
come first on PATH and answer as an armhf or arm64 system would, and
``FACECAM_SETUP_ROOT`` points it at a made-up ``/proc/device-tree/model``.
``apt-get``, ``apt-cache``, ``sudo`` and the venv's ``python`` are stand-ins
that record their calls, so the tests can tell how far the script got.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

RECORDER = """#!/bin/sh
echo "{name} $*" >> "$CALLS"
"""

FAKES = {
    "uname": 'if [ "$1" = -m ]; then echo "$FAKE_UNAME_M"; else exec /bin/uname "$@"; fi\n',
    "getconf": 'if [ "$1" = LONG_BIT ]; then echo "$FAKE_LONG_BIT"; else exit 1; fi\n',
    "dpkg": ('if [ "$1" = --print-architecture ]; then echo "$FAKE_DPKG_ARCH"; exit 0; fi\n'
             # dpkg -s NAME: installed only when listed in FAKE_INSTALLED
             'case " $FAKE_INSTALLED " in *" $2 "*) exit 0 ;; esac; exit 1\n'),
    "apt-get": "exit 0\n",
    "apt-cache": 'case " $FAKE_APT_KNOWS " in *" $2 "*) exit 0 ;; esac; exit 100\n',
    "sudo": 'exec "$@"\n',
    # the system's Python: its pointer size and numpy; `-m venv DIR` makes a venv whose python records pip
    "python3": r'''case "$*" in
  *struct.calcsize*) echo "$FAKE_PY_BITS" ;;
  *"import numpy"*) [ -n "$FAKE_SYSTEM_NUMPY" ] && echo "$FAKE_SYSTEM_NUMPY" || exit 1 ;;
  "-m venv"*)
    for last in "$@"; do :; done
    mkdir -p "$last/bin"
    case "$*" in *--system-site-packages*) s=true ;; *) s=false ;; esac
    echo "include-system-site-packages = $s" > "$last/pyvenv.cfg"
    printf '#!/bin/sh\necho "venv-python $*" >> "$CALLS"\ncase "$*" in *"import picamera2"*) echo "ValueError: numpy.dtype size changed" >&2; exit 1 ;; esac\n' > "$last/bin/python"
    chmod +x "$last/bin/python" ;;
  *) exit 1 ;;
esac
''',
}

ARMHF_PI4 = {"FAKE_UNAME_M": "armv7l", "FAKE_DPKG_ARCH": "armhf", "FAKE_LONG_BIT": "32", "FAKE_PY_BITS": "32"}
ARM64 = {"FAKE_UNAME_M": "aarch64", "FAKE_DPKG_ARCH": "arm64", "FAKE_LONG_BIT": "64", "FAKE_PY_BITS": "64"}
PI4 = "Raspberry Pi 4 Model B Rev 1.4"
PI5 = "Raspberry Pi 5 Model B Rev 1.0"


def run_setup(tmp_path: Path, machine: dict[str, str], *args: str, model: str | None = None,
              model_at: str = "proc/device-tree/model", **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """scripts/setup.sh ARGS from a copy in tmp_path, on the machine described; returns it and the calls made."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in FAKES.items():
        path = bin_dir / name
        path.write_text(RECORDER.format(name=name) + body)
        path.chmod(0o755)
    root = tmp_path / "root"
    if model is not None:
        (root / model_at).parent.mkdir(parents=True, exist_ok=True)
        (root / model_at).write_bytes(model.encode() + b"\0")  # the device tree's string ends in NUL
    calls = tmp_path / "calls.log"
    full_env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path), "CALLS": str(calls),
                "FACECAM_SETUP_ROOT": str(root), "FAKE_INSTALLED": "", "FAKE_APT_KNOWS": "",
                "FAKE_SYSTEM_NUMPY": "", **machine, **env}
    r = subprocess.run(["bash", str(repo / "scripts" / "setup.sh"), *args], capture_output=True, text=True,
                       env=full_env, timeout=60)
    made = calls.read_text().splitlines() if calls.exists() else []
    # the questions about the machine are not steps; what is left is what the script did
    steps = [c for c in made if not c.startswith(("uname", "getconf", "dpkg --print-architecture"))
             and "struct.calcsize" not in c]
    return r, steps


@pytest.mark.parametrize(("machine", "model", "args", "why", "instead"), [
    (ARMHF_PI4, PI4, (), "kernel armv7l, userland armhf, getconf LONG_BIT 32, python3 is 32-bit",
     "Raspberry Pi OS (64-bit) or Debian arm64"),
    # a Pi 4 or 5 on Raspberry Pi OS (32-bit): a 64-bit kernel under an armhf userland
    ({**ARM64, "FAKE_DPKG_ARCH": "armhf", "FAKE_LONG_BIT": "32", "FAKE_PY_BITS": "32"}, PI5, ("--picamera",),
     "userland armhf, getconf LONG_BIT 32, python3 is 32-bit", "Raspberry Pi OS (64-bit) or Debian arm64"),
    # a 32-bit Python on an otherwise 64-bit system
    ({**ARM64, "FAKE_PY_BITS": "32"}, PI5, ("--test",), "python3 is 32-bit", "Raspberry Pi OS (64-bit) or Debian arm64"),
    ({**ARMHF_PI4, "FAKE_UNAME_M": "armv6l"}, "Raspberry Pi Zero W Rev 1.1", ("--dlib",),
     "kernel armv6l, userland armhf, getconf LONG_BIT 32, python3 is 32-bit", "Raspberry Pi OS (64-bit)"),
    ({"FAKE_UNAME_M": "i686", "FAKE_DPKG_ARCH": "i386", "FAKE_LONG_BIT": "32", "FAKE_PY_BITS": "32"}, None, (),
     "kernel i686, userland i386", "a 64-bit (amd64 or arm64) system"),
], ids=["pi4-armhf", "pi5-64bit-kernel-armhf-userland", "32bit-python", "pi-zero-armv6", "i686"])
def test_a_32_bit_system_is_refused_in_one_line_before_anything_is_installed(tmp_path, machine, model, args, why,
                                                                            instead):
    t = time.monotonic()
    r, steps = run_setup(tmp_path, machine, *args, model=model)
    assert time.monotonic() - t < 10
    assert r.returncode == 1 and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith(f"setup: error: {model}: " if model else "setup: error: this is a 32-bit system")
    assert why in line and "facecam needs a 64-bit one" in line and f"install {instead}" in line
    assert steps == []  # no apt-get, no sudo, no venv, no pip
    assert not (tmp_path / "repo" / ".venv").exists()


@pytest.mark.parametrize("model_at", ["proc/device-tree/model", "sys/firmware/devicetree/base/model"])
def test_check_names_the_raspberry_pi_and_stops(tmp_path, model_at):
    r, steps = run_setup(tmp_path, ARM64, "--check", model=PI5, model_at=model_at)
    assert r.returncode == 0, r.stderr
    assert r.stderr == f"setup: {PI5}, 64-bit (aarch64, arm64)\n" and steps == []


def test_picamera_is_refused_off_a_raspberry_pi(tmp_path):
    r, steps = run_setup(tmp_path, {**ARM64, "FAKE_UNAME_M": "x86_64", "FAKE_DPKG_ARCH": "amd64"}, "--picamera")
    assert r.returncode == 2 and steps == []
    assert r.stderr.splitlines()[-1].startswith("setup: error: --picamera sets up a Raspberry Pi camera, and this "
                                                "is not a Raspberry Pi")


def test_picamera_on_a_bookworm_pi_installs_rpicam_apps_and_a_venv_that_sees_picamera2(tmp_path):
    """No rpicam-vid yet, Debian's numpy 1.24: rpicam-apps-lite and python3-picamera2 from apt, a venv with
    --system-site-packages, facecam's dependencies in it with numpy<2, and a word on what works."""
    r, steps = run_setup(tmp_path, ARM64, "--picamera", model=PI5,
                         FAKE_APT_KNOWS="rpicam-apps-lite rpicam-apps python3-picamera2", FAKE_SYSTEM_NUMPY="1.24.2")
    assert r.returncode == 0, r.stderr
    venv = str(tmp_path / "repo" / ".venv")
    assert "apt-get install -y -qq --no-install-recommends rpicam-apps-lite" in steps
    assert "apt-get install -y -qq --no-install-recommends python3-picamera2" in steps
    assert "python3 -m venv --system-site-packages .venv" in steps
    assert "venv-python -m pip install --quiet --ignore-installed -e . numpy<2" in steps
    assert f"setup: {PI5}, 64-bit (aarch64, arm64)" in r.stderr
    assert ("setup: the picamera2 source cannot load Debian's picamera2 here (ValueError: numpy.dtype size "
            "changed); the default picamera source (rpicam-vid) does not need it") in r.stderr
    assert r.stderr.endswith("setup: ready (.venv/bin/facecam)\n") and Path(venv).is_dir()


def test_picamera_keeps_an_installed_rpicam_vid_and_numpy_2(tmp_path):
    """Raspberry Pi OS on trixie: rpicam-vid already there and the system's numpy is 2.x: no pin, no apt."""
    (tmp_path / "bin").mkdir()
    rpicam = tmp_path / "bin" / "rpicam-vid"
    rpicam.write_text("#!/bin/sh\nexit 0\n")
    rpicam.chmod(0o755)
    r, steps = run_setup(tmp_path, ARM64, "--picamera", model=PI5, FAKE_APT_KNOWS="python3-picamera2",
                         FAKE_INSTALLED="python3-picamera2", FAKE_SYSTEM_NUMPY="2.2.4")
    assert r.returncode == 0, r.stderr
    assert not any(s.startswith("apt-get") for s in steps)
    assert "venv-python -m pip install --quiet --ignore-installed -e ." in steps
    assert "setup: the picamera source (rpicam-vid) is ready" in r.stderr
