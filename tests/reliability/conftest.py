"""Shared by the reliability suite: a small, really full file system for a data directory, and a data
directory with someone enrolled."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AGEITGEY, facecam


class SmallDisk:
    """A tmpfs of ``size_mb`` mounted at ``path`` (the test needs root, as CI has); :meth:`fill` leaves no room,
    :meth:`free` gives the room back."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs for the full-disk tests (needs root, as CI has): {done.stderr.strip()}")
        self.filler = path / ".filler"

    def fill(self) -> None:
        """Write until the disk refuses (ENOSPC)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 65536, 4096, 512, 1):
                chunk = b"\0" * size
                try:
                    while True:
                        os.write(fd, chunk)
                except OSError:
                    pass
        finally:
            os.close(fd)
        st = os.statvfs(self.path)
        assert st.f_bavail * st.f_frsize < 8192, "the disk is not full"

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "disk", 24)
    yield disk
    disk.close()


def limit_file_size(max_bytes: int) -> None:
    """RLIMIT_FSIZE for a child (where no tmpfs can be mounted): writes past it fail with EFBIG."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


@pytest.fixture(scope="session")
def enrolled_gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with lin_manuel_miranda enrolled, made once; copy it with :func:`data_dir`."""
    root = tmp_path_factory.mktemp("enrolled") / "data"
    r = facecam("enroll", "--data-dir", str(root), "lin_manuel_miranda",
                *map(str, (AGEITGEY / "identities" / "lin_manuel_miranda").iterdir()))
    assert r.returncode == 0, r.stderr
    return root


@pytest.fixture()
def data_dir(enrolled_gallery: Path, tmp_path: Path) -> Path:
    """This test's own copy of :func:`enrolled_gallery`."""
    return Path(shutil.copytree(enrolled_gallery, tmp_path / "data"))
