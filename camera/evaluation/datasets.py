"""Reading evaluation inputs: pairs files, identity folders and imglab XML.

Everything here only parses and lists; nothing decodes a photo. Problems
(a pairs line naming a photo that is not there, an empty person folder) come
back as :class:`Problem` records beside the parsed data, so a run lists them
instead of stopping.

Formats:

* LFW pairs (``pairs.txt``, ``pairsDevTrain.txt``): a header line that is
  either ``N`` (one set: N same pairs, then N different pairs) or
  ``FOLDS N`` (View 2: FOLDS blocks of N same then N different). A same line
  is ``name i j``; a different line is ``name1 i name2 j``. Photo ``i`` of
  ``name`` is ``ROOT/name/name_%04d.jpg``.
* CSV pairs: a header ``path_a,path_b,same`` (``same`` is 1/0 or
  true/false); paths are relative to the CSV's folder unless absolute.
* Identity folders: ``DIR/NAME/*`` with one folder per person.
* imglab XML (dlib's ``testing.xml``): ``<image file=...>`` with
  ``<box top left width height [ignore='1']>`` in pixels.
"""

from __future__ import annotations

import csv
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera.imageio import is_image_name

log = logging.getLogger(__name__)

__all__ = [
    "GroundTruthImage", "Pair", "PairSet", "Person", "Problem", "list_photos", "lfw_root_for", "natural_key",
    "read_imglab_xml", "read_pairs", "read_people",
]


@dataclass(frozen=True)
class Problem:
    """One thing that could not be evaluated as asked, and how it was counted.

    ``item`` is a path or a pairs-file line; ``kind`` is a short tag
    (``missing``, ``unreadable``, ``no_face``, ``empty_folder``,
    ``bad_line``, ...); ``counted_as`` says what the metrics did with it.
    """

    item: str
    kind: str
    detail: str
    counted_as: str


@dataclass(frozen=True)
class Pair:
    """Two photos and whether they show the same person.

    ``fold`` is the 0-based fold the pairs file puts the pair in (0 when the
    file has no folds); ``source`` is ``file:line`` for reports.
    """

    path_a: Path
    path_b: Path
    same: bool
    fold: int
    source: str


@dataclass(frozen=True)
class PairSet:
    """The pairs of one file: ``n_folds`` is 1 for View 1 and CSV files."""

    path: Path
    pairs: tuple[Pair, ...]
    n_folds: int
    problems: tuple[Problem, ...]

    def limited(self, n: int | None) -> PairSet:
        """The first ``ceil(n/2)`` same and ``floor(n/2)`` different pairs (all when ``n`` is None)."""
        if n is None:
            return self
        same = [p for p in self.pairs if p.same][: (n + 1) // 2]
        diff = [p for p in self.pairs if not p.same][: n // 2]
        keep = set(map(id, same + diff))
        return PairSet(self.path, tuple(p for p in self.pairs if id(p) in keep), self.n_folds, self.problems)


@dataclass(frozen=True)
class Person:
    """One identity folder: ``photos`` in natural name order (``2.pgm`` before ``10.pgm``)."""

    name: str
    photos: tuple[Path, ...]


@dataclass(frozen=True)
class GroundTruthImage:
    """An annotated photo: ``xyxy`` (n, 4) float32 pixel boxes; ``ignore`` (n,) bool."""

    path: Path
    xyxy: np.ndarray
    ignore: np.ndarray


def natural_key(s: str) -> list[object]:
    """Sort key that orders digit runs by value: ``s2`` < ``s10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def lfw_root_for(pairs_path: Path) -> Path:
    """Where LFW photos live for a pairs file: the first of ``lfw_deepfunneled/``,
    ``lfw/`` or the pairs file's own folder that exists."""
    base = pairs_path.parent
    for cand in (base / "lfw_deepfunneled", base / "lfw", base / "lfw-deepfunneled"):
        if cand.is_dir():
            return cand
    return base


def read_pairs(path: Path, root: Path | None = None) -> PairSet:
    """Parse an LFW pairs file or a CSV pairs file (chosen by the ``.csv`` suffix).

    ``root`` is where LFW photos live (default :func:`lfw_root_for`) or what CSV
    paths are relative to (default: the CSV's folder). Malformed lines become
    ``bad_line`` problems and are skipped. Missing photos are *not* checked
    here; the embedding step lists them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such pairs file")
    if path.suffix.lower() == ".csv":
        return _read_csv_pairs(path, root or path.parent)
    return _read_lfw_pairs(path, root or lfw_root_for(path))


def _lfw_photo(root: Path, name: str, index: str) -> Path:
    return root / name / f"{name}_{int(index):04d}.jpg"


def _read_lfw_pairs(path: Path, root: Path) -> PairSet:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    problems: list[Problem] = []
    header = lines[0].split() if lines else []
    if len(header) == 1 and header[0].isdigit():
        n_folds, per_side = 1, int(header[0])
    elif len(header) == 2 and all(h.isdigit() for h in header):
        n_folds, per_side = int(header[0]), int(header[1])
    else:
        raise ValueError(f"{path}:1: expected a header 'N' or 'FOLDS N', got {lines[0] if lines else ''!r}")
    pairs: list[Pair] = []
    block = 2 * per_side
    for k, line in enumerate(lines[1:]):
        src = f"{path.name}:{k + 2}"
        tok = line.split()
        if not tok:
            continue
        fold = min(k // block, n_folds - 1) if block else 0
        try:
            if len(tok) == 3:
                pairs.append(Pair(_lfw_photo(root, tok[0], tok[1]), _lfw_photo(root, tok[0], tok[2]),
                                  True, fold, src))
            elif len(tok) == 4:
                pairs.append(Pair(_lfw_photo(root, tok[0], tok[1]), _lfw_photo(root, tok[2], tok[3]),
                                  False, fold, src))
            else:
                raise ValueError(f"expected 3 or 4 fields, got {len(tok)}")
        except ValueError as exc:
            problems.append(Problem(src, "bad_line", f"{line.strip()!r}: {exc}", "skipped"))
    expected = n_folds * block
    if len(pairs) + len(problems) != expected:
        log.warning("%s: header promises %d pairs, found %d lines", path, expected, len(pairs) + len(problems))
    return PairSet(path, tuple(pairs), n_folds, tuple(problems))


def _read_csv_pairs(path: Path, root: Path) -> PairSet:
    pairs: list[Pair] = []
    problems: list[Problem] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"path_a", "path_b", "same"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: CSV header needs path_a,path_b,same; missing {sorted(missing)}")
        for k, row in enumerate(reader):
            src = f"{path.name}:{k + 2}"
            same = (row.get("same") or "").strip().lower()
            if same not in {"1", "0", "true", "false", "yes", "no"} or not row["path_a"] or not row["path_b"]:
                problems.append(Problem(src, "bad_line", f"{row!r}", "skipped"))
                continue
            pairs.append(Pair(root / row["path_a"].strip(), root / row["path_b"].strip(),
                              same in {"1", "true", "yes"}, 0, src))
    return PairSet(path, tuple(pairs), 1, tuple(problems))


def read_people(directory: Path) -> tuple[list[Person], list[Problem]]:
    """The person folders under ``directory`` in natural order, and the empty ones.

    A folder with no photo (by suffix, see :func:`camera.imageio.is_image_name`)
    is an ``empty_folder`` problem and is left out of the returned people.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such folder")
    people: list[Person] = []
    problems: list[Problem] = []
    for sub in sorted((d for d in directory.iterdir() if d.is_dir()), key=lambda d: natural_key(d.name)):
        photos = sorted((p for p in sub.iterdir() if p.is_file() and is_image_name(p)),
                        key=lambda p: natural_key(p.name))
        if not photos:
            problems.append(Problem(str(sub), "empty_folder", "no photo files in this person's folder",
                                    "person left out"))
            continue
        people.append(Person(sub.name, tuple(photos)))
    return people, problems


def list_photos(directory: Path, limit: int | None = None) -> list[Path]:
    """Every photo under ``directory`` (recursively) in natural path order; with
    ``limit``, that many of them evenly spaced through the list (so a sample
    spans all people rather than the first few)."""
    photos = sorted((p for p in Path(directory).rglob("*") if p.is_file() and is_image_name(p)),
                    key=lambda p: natural_key(str(p)))
    if limit is None or limit >= len(photos):
        return photos
    return [photos[int(i)] for i in np.linspace(0, len(photos) - 1, max(limit, 0)).round()]


def read_imglab_xml(path: Path, root: Path | None = None) -> list[GroundTruthImage]:
    """The annotated images of an imglab XML file; ``root`` defaults to its folder.

    Boxes with ``ignore='1'`` are kept with ``ignore`` set (they count neither
    as misses nor, when matched, as false detections).
    """
    path = Path(path)
    root = root or path.parent
    tree = ET.parse(path)
    out: list[GroundTruthImage] = []
    for img in tree.getroot().iter("image"):
        boxes, ignore = [], []
        for b in img.findall("box"):
            top, left = float(b.get("top", 0)), float(b.get("left", 0))
            w, h = float(b.get("width", 0)), float(b.get("height", 0))
            boxes.append((left, top, left + w, top + h))
            ignore.append(b.get("ignore", "0") == "1")
        xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
        out.append(GroundTruthImage(root / img.get("file", ""), xyxy, np.asarray(ignore, bool)))
    return out
