"""scripts/check_arm64.sh refuses, in one line and before it builds or mounts anything, what it cannot do.

The check itself (an emulated arm64 Debian, scripts/setup.sh in it, an
end-to-end run) needs root, binfmt_misc and the network and takes minutes; it
runs from .ci/run when FACECAM_CHECK_ARM64=1. What is tested here is how it
starts: its usage, and the machines it must refuse. As in
tests/test_setup_script.py, the script runs for real and only the machine is
made up: stand-ins for ``id``, ``dpkg``, ``mount`` and ``update-binfmts`` come
first on PATH, and ``FACECAM_BINFMT_DIR`` points at an empty binfmt_misc.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "check_arm64.sh"

FAKES = {
    "id": 'if [ "$1" = -u ]; then echo "$FAKE_UID"; else exec /usr/bin/id "$@"; fi\n',
    "dpkg": "exit 0\n",  # debootstrap, qemu-user-static and binfmt-support count as installed
    "mount": 'echo "mount $*" >> "$CALLS"; exit 32\n',
    "update-binfmts": 'echo "update-binfmts $*" >> "$CALLS"; exit 2\n',
    "debootstrap": 'echo "debootstrap $*" >> "$CALLS"; exit 1\n',
    "apt-get": 'echo "apt-get $*" >> "$CALLS"; exit 1\n',
}


def run_check(tmp_path: Path, *args: str, uid: str = "0") -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in FAKES.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    shared = tmp_path / "shared"
    (shared / "data" / "ageitgey+face_recognition").mkdir(parents=True, exist_ok=True)
    (tmp_path / "binfmt_misc").mkdir(exist_ok=True)
    calls = tmp_path / "calls.log"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path), "CALLS": str(calls),
           "FAKE_UID": uid, "FACECAM_SHARED": str(shared), "FACECAM_ARM64_CACHE": str(tmp_path / "cache"),
           "FACECAM_BINFMT_DIR": str(tmp_path / "binfmt_misc")}
    r = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)
    return r, calls.read_text().splitlines() if calls.exists() else []


def test_help_shows_the_modes():
    r = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for mode in ("--fast", "--full", "--armhf", "--rebuild", "FACECAM_CHECK_ARM64=1"):
        assert mode in r.stdout


@pytest.mark.parametrize(("args", "uid", "code", "start"), [
    (("--quick",), "0", 2, "check_arm64: error: unknown option --quick; usage: check_arm64.sh [--fast]"),
    (("--fast",), "1000", 1, "check_arm64: error: needs root (debootstrap, chroot and mounts)"),
], ids=["unknown-option", "not-root"])
def test_usage_and_root_are_checked_first(tmp_path, args, uid, code, start):
    r, calls = run_check(tmp_path, *args, uid=uid)
    assert r.returncode == code and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith(start)
    assert calls == [] and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(("mode", "qemu"), [("--fast", "qemu-aarch64"), ("--armhf", "qemu-arm")])
def test_without_binfmt_misc_it_stops_in_one_line_before_building_anything(tmp_path, mode, qemu):
    """A container without the privilege to register qemu: one line that says what to do, nothing built."""
    t = time.monotonic()
    r, calls = run_check(tmp_path, mode)
    assert time.monotonic() - t < 20
    assert r.returncode == 1
    [line] = r.stderr.splitlines()
    assert line.startswith(f"check_arm64: error: {qemu} is not registered with binfmt_misc")
    assert "--privileged" in line
    # it tried to mount binfmt_misc and to register qemu, and went no further
    assert calls == [f"mount -t binfmt_misc binfmt_misc {tmp_path / 'binfmt_misc'}", f"update-binfmts --enable {qemu}"]
    assert not any(p.name.startswith("run-") for p in (tmp_path / "cache").iterdir())
    assert not (tmp_path / "cache" / "arm64").exists() and not (tmp_path / "cache" / "armhf").exists()
