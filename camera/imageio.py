"""Reading photos safely: every bad file becomes one clear :class:`InvalidImage`.

Images come back as RGB uint8 (H, W, 3), C-contiguous, whatever the file held
(grey, 16-bit, alpha, palette, EXIF rotation). Files above ``MAX_PIXELS`` are
refused before they are decoded in full, so a decompression bomb cannot
exhaust memory on a Pi.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from camera.errors import InvalidImage
from camera.redact import one_line

log = logging.getLogger(__name__)

#: Largest image accepted, in pixels (width x height): 50 megapixels.
MAX_PIXELS = 50_000_000
#: the largest photo file read (bytes): 50 megapixels of uncompressed RGB fit in 150 MB
MAX_FILE_BYTES = 150_000_000

#: File name endings treated as photos when a folder is scanned.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".webp", ".tif", ".tiff"})


_STRICT_LOAD = threading.Lock()


def is_image_name(path: Path) -> bool:
    """Whether ``path``'s suffix is one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes; a missing, unreadable, empty or oversized (``max_bytes``, default
    :data:`MAX_FILE_BYTES`) file is :class:`InvalidImage`. The size is checked before anything is read,
    so a huge (or sparse) file never fills memory."""
    path = Path(path)
    name = one_line(str(path))  # a file name may hold a newline or an escape
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:  # stat itself fails on a name too long for the file system
        if not path.exists():
            raise InvalidImage(f"{name}: no such file")
        if not path.is_file():
            raise InvalidImage(f"{name}: not a regular file")
    except OSError as exc:
        raise InvalidImage(f"{name}: cannot read ({exc.strerror or exc})") from exc
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise InvalidImage(f"{name}: {size / 1e6:.0f} MB, above the limit of {limit / 1e6:.0f} MB for a "
                                   "photo; resize it first")
            data = f.read(limit + 1)
    except OSError as exc:
        raise InvalidImage(f"{name}: cannot read ({exc.strerror or exc})") from exc
    if not data:
        raise InvalidImage(f"{name}: the file is empty (0 bytes)")
    if len(data) > limit:
        raise InvalidImage(f"{name}: above the limit of {limit / 1e6:.0f} MB for a photo; resize it first")
    return data


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image bytes to RGB uint8 (H, W, 3).

    Raises :class:`InvalidImage` for bytes that are not an image, a truncated
    file, or an image over ``max_pixels``.
    """
    name = one_line(name)  # an uploaded file's name may hold a newline or an escape
    if not data:
        raise InvalidImage(f"{name}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise InvalidImage(f"{name}: {w}x{h} is {w * h / 1e6:.0f} megapixels, "
                                   f"above the limit of {max_pixels / 1e6:.0f} megapixels; resize it first")
            with _STRICT_LOAD:  # face_recognition turns on LOAD_TRUNCATED_IMAGES for the whole process
                saved, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
                try:
                    img.load()
                finally:
                    ImageFile.LOAD_TRUNCATED_IMAGES = saved
    except InvalidImage:
        raise
    except UnidentifiedImageError as exc:
        raise InvalidImage(f"{name}: not an image file (unrecognised format)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(f"{name}: the image is too large to decode safely, above the limit of "
                           f"{max_pixels / 1e6:.0f} megapixels; resize it first") from exc
    except OSError as exc:
        raise InvalidImage(f"{name}: corrupt or truncated image ({exc})") from exc
    except (ValueError, SyntaxError) as exc:
        raise InvalidImage(f"{name}: cannot decode image ({exc})") from exc
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as exc:  # a broken EXIF block should not lose the picture
        log.debug("%s: ignoring unreadable EXIF orientation: %s", name, exc)
    if img.mode == "I;16" or img.mode == "I":
        arr = np.asarray(img, dtype=np.float32)
        top = max(float(arr.max()), 1.0)
        arr = (arr * (255.0 / (65535.0 if top > 255 else 255.0))).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise InvalidImage(f"{name}: {rgb.shape[1]}x{rgb.shape[0]} pixels is too small to hold a face")
    return np.ascontiguousarray(rgb)


def load_image(path: Path | str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read and decode a photo to RGB uint8 (H, W, 3); see :func:`decode_image`."""
    path = Path(path)
    return decode_image(read_bytes(path), str(path), max_pixels)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data`` (used to key photos in the gallery and caches)."""
    return hashlib.sha256(data).hexdigest()
