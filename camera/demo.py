"""The offline demo: the whole pipeline on a fresh machine, no camera needed.

It uses one public-domain photograph that ships in the package
(``camera/static/eileen_collins.jpg``: astronaut Eileen Collins's head and
shoulders, from scikit-image's ``astronaut.png``; see ``SOURCE.md`` beside it):

1. enrol ``eileen_collins`` from the photo;
2. render a short clip (``demo_clip.mp4``, 640x480, 10 fps): an empty scene,
   then the face entering, moving and changing size and brightness, then the
   empty scene again;
3. run the real capture → detect → embed → match → alert loop on the clip
   and return the alerts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from camera.errors import FacecamError

log = logging.getLogger(__name__)

DEMO_PERSON = "eileen_collins"
#: the packaged photograph: 300x300 RGB JPEG, head and shoulders
DEMO_PHOTO = Path(__file__).with_name("static") / "eileen_collins.jpg"
CLIP_SIZE = (640, 480)  # width, height in pixels
CLIP_FPS = 10.0


def demo_photo() -> Path:
    """The packaged photograph of the demo's person."""
    if not DEMO_PHOTO.is_file():
        raise FacecamError(f"{DEMO_PHOTO} is missing; reinstall facecam")
    return DEMO_PHOTO


def render_clip(photo_rgb: np.ndarray, out: Path, seconds: float = 6.0) -> Path:
    """Write the demo clip to ``out`` (MP4) and return it.

    The background is a heavily blurred, darkened copy of the photo (no face
    survives the blur); the head and shoulders slide across it for the middle
    two thirds of the clip, at scales from 0.55 to 0.85.
    """
    w, h = CLIP_SIZE
    background = cv2.GaussianBlur(cv2.resize(photo_rgb, (w, h)), (0, 0), 25)
    background = (background * 0.6).astype(np.uint8)
    portrait = photo_rgb
    n = int(seconds * CLIP_FPS)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, (w, h))
    if not writer.isOpened():
        raise FacecamError(f"cannot write {out}: OpenCV has no MP4 encoder here")
    try:
        for i in range(n):
            frame = background.copy()
            u = i / max(n - 1, 1)
            if 1 / 6 <= u <= 5 / 6:
                v = (u - 1 / 6) * 1.5  # 0..1 while the person is in view
                scale = 0.55 + 0.3 * np.sin(np.pi * v)
                face = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                face = np.clip(face.astype(np.float32) * (0.8 + 0.3 * v), 0, 255).astype(np.uint8)
                fh, fw = face.shape[:2]
                x = int(v * (w - fw))
                y = (h - fh) // 2
                frame[y:y + fh, x:x + fw] = face
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    finally:
        writer.release()
    return out
