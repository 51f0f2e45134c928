"""A folder of photos as a frame source, in file-name order.

Each photo is one frame, ``frame_interval_s`` apart on the source's clock
(default 1 s, so cooldowns behave as for a camera taking a picture a
second). Unreadable files are logged, counted and skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from camera.capture.base import RawFrame
from camera.errors import CameraUnavailable, InvalidImage
from camera.imageio import is_image_name, load_image

log = logging.getLogger(__name__)


class ImageFolderSource:
    """Photos in a folder (not recursive), one frame each."""

    live = False

    def __init__(self, path: Path, frame_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.frame_interval_s = frame_interval_s
        self.description = f"image folder {self.path}"
        self.skipped = 0
        self._files: list[Path] = []
        self._i = 0

    def open(self) -> None:
        if not self.path.is_dir():
            raise CameraUnavailable(f"{self.path}: no such folder")
        self._files = sorted(p for p in self.path.iterdir() if p.is_file() and is_image_name(p))
        if not self._files:
            raise CameraUnavailable(f"{self.path}: the folder holds no photos (.jpg, .png, ...)")
        self._i = 0

    def read(self) -> RawFrame | None:
        while self._i < len(self._files):
            path = self._files[self._i]
            t = self._i * self.frame_interval_s
            self._i += 1
            try:
                rgb = load_image(path)
            except InvalidImage as exc:
                self.skipped += 1
                log.warning("skipping %s", exc)
                continue
            return RawFrame(np.ascontiguousarray(rgb[:, :, ::-1]), t)
        return None

    def close(self) -> None:
        self._files = []
