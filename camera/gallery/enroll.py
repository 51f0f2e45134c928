"""Enrolment: photos of a person → one embedding each, stored in the gallery.

A photo must show exactly one face: none or several is reported and skipped,
never enrolled by guess. Bad files (empty, truncated, not an image) are
reported per photo; nothing already stored changes.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camera.engine import Engine
from camera.errors import FacecamError, NoFaceFound, SeveralFacesFound
from camera.gallery.store import Gallery, validate_name
from camera.imageio import decode_image, is_image_name, read_bytes, sha256_bytes
from camera.redact import one_line
from camera.track.quality import frame_qualities

log = logging.getLogger(__name__)


class EnrolStatus(enum.StrEnum):
    """What happened to one photo."""

    ENROLLED = "enrolled"  #: a new photo (or a new embedding of a stored one)
    DUPLICATE = "duplicate"  #: this person already has this exact photo
    SKIPPED = "skipped"  #: not enrolled; ``reason`` says why


@dataclass(frozen=True)
class EnrolOutcome:
    """What happened to one photo (``path``: where it came from; an upload's file name)."""

    path: Path
    person: str
    status: EnrolStatus
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (EnrolStatus.ENROLLED, EnrolStatus.DUPLICATE)


def single_face(engine: Engine, rgb: np.ndarray, name: str) -> tuple[np.ndarray, tuple[float, ...], float]:
    """The embedding, box and quality (0-1) of the only face in ``rgb``.

    Raises :class:`NoFaceFound` or :class:`SeveralFacesFound` (``name`` is
    the photo's name, for the message).
    """
    det = engine.detector.detect(rgb)
    if len(det) == 0:
        raise NoFaceFound(f"{name}: no face found; use a sharper, frontal photo where the face is "
                          "at least 80 pixels wide")
    if len(det) > 1:
        raise SeveralFacesFound(f"{name}: {len(det)} faces found; crop the photo to the one person")
    emb = engine.embedder.embed(rgb, det)
    quality = frame_qualities(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), det)[0].value
    return emb.vectors[0], tuple(float(v) for v in det.xyxy[0]), quality


def enroll_photos(gallery: Gallery, engine: Engine, name: str, paths: list[Path]) -> list[EnrolOutcome]:
    """Enrol each photo in ``paths`` as ``name``; one outcome per photo, in order."""
    name = validate_name(name)
    outcomes = []
    for path in paths:
        path = Path(path)
        try:
            outcomes.append(_enrol(gallery, engine, name, read_bytes(path), path))
        except FacecamError as exc:
            log.warning("skipped %s", exc)
            outcomes.append(EnrolOutcome(path, name, EnrolStatus.SKIPPED, str(exc)))
    return outcomes


def enroll_data(gallery: Gallery, engine: Engine, name: str, data: bytes, filename: str) -> EnrolOutcome:
    """Enrol one photo given as bytes (an upload called ``filename``), with the checks of :func:`enroll_photos`."""
    name = validate_name(name)
    path = Path(Path(filename).name or "upload")
    try:
        return _enrol(gallery, engine, name, data, path)
    except FacecamError as exc:
        log.warning("skipped %s", exc)
        return EnrolOutcome(path, name, EnrolStatus.SKIPPED, str(exc))


def _enrol(gallery: Gallery, engine: Engine, name: str, data: bytes, path: Path) -> EnrolOutcome:
    rgb = decode_image(data, str(path))
    vector, box, quality = single_face(engine, rgb, one_line(str(path)))  # an upload's name may hold escapes
    added = gallery.add_photo_embedding(name, data, sha256_bytes(data), path.name, path.suffix,
                                        vector, engine.embedder.model_id, box, quality)  # type: ignore[arg-type]
    if added:
        return EnrolOutcome(path, name, EnrolStatus.ENROLLED)
    return EnrolOutcome(path, name, EnrolStatus.DUPLICATE, "already enrolled")


def people_in_dir(root: Path) -> dict[str, list[Path]]:
    """Photos per person in ``root``: ``root/NAME/*.jpg`` or ``root/NAME.jpg``.

    Raises FacecamError when ``root`` is not a folder or holds no photos.
    """
    root = Path(root)
    if not root.is_dir():
        raise FacecamError(f"{root}: not a folder; expected DIR/NAME/*.jpg")
    found: dict[str, list[Path]] = {}
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            photos = sorted(p for p in entry.iterdir() if p.is_file() and is_image_name(p))
            if photos:
                found.setdefault(entry.name, []).extend(photos)
            else:
                log.warning("%s: no photos in this folder", entry)
        elif entry.is_file() and is_image_name(entry):
            found.setdefault(entry.stem, []).append(entry)
    if not found:
        raise FacecamError(f"{root}: no photos found; expected DIR/NAME/*.jpg")
    return found


def enroll_from_dir(gallery: Gallery, engine: Engine, root: Path) -> list[EnrolOutcome]:
    """Enrol every person found by :func:`people_in_dir`."""
    outcomes: list[EnrolOutcome] = []
    for name, photos in people_in_dir(root).items():
        try:
            validate_name(name)
        except FacecamError as exc:  # a folder whose name cannot be a person's: its photos are skipped
            log.warning("skipped folder %s: %s", root / name, exc)
            outcomes += [EnrolOutcome(p, name, EnrolStatus.SKIPPED, f"folder {name!r}: {exc}") for p in photos]
            continue
        outcomes.extend(enroll_photos(gallery, engine, name, photos))
    return outcomes


def rebuild(gallery: Gallery, engine: Engine) -> list[EnrolOutcome]:
    """Embed stored photos that have no embedding from this engine's model yet."""
    outcomes = []
    for photo in gallery.photos_missing(engine.embedder.model_id):
        try:
            rgb = decode_image(read_bytes(photo.path), str(photo.path))
            vector, box, _ = single_face(engine, rgb, str(photo.path))
            gallery.add_embedding(photo.photo_id, vector, engine.embedder.model_id, box)  # type: ignore[arg-type]
            outcomes.append(EnrolOutcome(photo.path, photo.person, EnrolStatus.ENROLLED))
        except FacecamError as exc:
            outcomes.append(EnrolOutcome(photo.path, photo.person, EnrolStatus.SKIPPED, str(exc)))
    return outcomes
