"""``facecam calibrate``: recommend ``max_distance`` for the enrolled gallery and write it to a config.

:func:`calibrate_gallery` reads the gallery of a data directory for one
``model_id`` and runs :func:`~camera.evaluation.calibrate.recommend_threshold`
on it (the model's impostor prior from ``models/manifest.toml``, the model
default as the cap, optional negatives: photos of people who are not
enrolled). :func:`set_max_distance` edits one TOML file in place: it
replaces the value of ``max_distance`` under ``[matching]`` (or a top-level
``matching.max_distance``), else inserts it under an existing ``[matching]``
header, else appends the section; every other line, comments included, is
kept. The result is validated with :func:`camera.config.load_config` before
the file is replaced atomically; if it does not validate, nothing changes.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from camera.app import engines_for
from camera.config import Config, load_config
from camera.engine import Engine
from camera.errors import ConfigError, FacecamError, InvalidImage
from camera.evaluation.calibrate import Recommendation, impostor_prior, recommend_threshold
from camera.evaluation.datasets import list_photos
from camera.evaluation.extract import pick_face
from camera.fsutil import atomic_write
from camera.gallery.store import Gallery
from camera.imageio import decode_image, read_bytes

log = logging.getLogger(__name__)

__all__ = ["DECIMALS", "calibrate_gallery", "describe", "rounded", "set_max_distance"]

#: The written threshold has this many decimals, rounded down (the strict side).
DECIMALS = 4

_HEADER = re.compile(r"^\s*\[")
_MATCHING = re.compile(r"^\s*\[\s*matching\s*\]\s*(#.*)?$")
_IN_TABLE = re.compile(r"^(\s*max_distance\s*=\s*)([^#\r\n]*?)(\s*(#.*)?)$")
_TOP_LEVEL = re.compile(r"^(\s*matching\s*\.\s*max_distance\s*=\s*)([^#\r\n]*?)(\s*(#.*)?)$")


def rounded(threshold: float) -> float:
    """``threshold`` rounded down to :data:`DECIMALS` decimals (never looser than recommended)."""
    scale = 10 ** DECIMALS
    return math.floor(threshold * scale) / scale


def calibrate_gallery(root: Path, cfg: Config, target_far: float, negatives_dir: Path | None = None,
                      engine: Engine | None = None) -> tuple[Recommendation, str, float]:
    """The recommendation for the gallery under ``root`` and the configured engine.

    ``engine`` is the enrolment engine (default: built from ``cfg``; the web app passes its own).
    Returns ``(recommendation, model_id, model default max_distance)``.
    Raises :class:`FacecamError` when the gallery holds no embeddings of the
    engine's model or too little to estimate a false-accept rate.
    """
    if not (root / "gallery.sqlite3").is_file():  # reading must not create an empty gallery
        raise FacecamError(f"no gallery in {root}: enrol people first (facecam enroll)")
    engine = engine or engines_for(root).enrolment(cfg.engine)
    model_id, default_t = engine.embedder.model_id, float(engine.embedder.default_max_distance)
    with Gallery(root) as gallery:
        index = gallery.index(model_id)
    if len(index.vectors) == 0:
        raise FacecamError(f"no embeddings of model {model_id!r} in {root}: enrol people first "
                           "(facecam enroll), or run facecam people rebuild after changing the engine")
    names = [index.names[i] for i in index.labels]
    negatives = None
    if negatives_dir is not None:  # embedded as enrolment photos are: same engine, same detector settings
        negatives = _embed_negatives(negatives_dir, engine)
    try:
        rec = recommend_threshold(names, index.vectors, target_far, negatives, impostor_prior(model_id), default_t)
    except ValueError as exc:
        raise FacecamError(str(exc)) from exc
    return rec, model_id, default_t


def describe(rec: Recommendation, model_id: str, default_t: float) -> list[str]:
    """The recommendation as lines for people to read."""
    lines = [
        f"recommended max_distance {rounded(rec.max_distance):.{DECIMALS}f} for model {model_id} "
        f"(model default {default_t:g}; target false-accept rate {rec.target_far:g})",
        f"  gallery: {rec.n_people} people, {rec.n_enrolled} photos; per-comparison FAR "
        f"1-(1-{rec.target_far:g})^(1/{rec.n_enrolled}) = {rec.per_comparison_far:.3g}",
        f"  household estimate {_fmt(rec.household_threshold)} ({rec.n_household_pairs} cross-person pairs, "
        f"mean {_fmt(rec.household_mean)}, sd {_fmt(rec.household_sd)}); model prior estimate "
        f"{_fmt(rec.prior_threshold)}; set by: {rec.binding}",
        f"  expected stranger false-accept rate {rec.expected_far:.2%}; expected share of known faces named "
        + (f"{rec.expected_named:.1%} (leave-one-out over {rec.n_genuine} photos)"
           if not math.isnan(rec.expected_named) else "unknown (nobody has two photos)"),
    ]
    lines += [f"  warning: {w}" for w in rec.warnings]
    return lines


def set_max_distance(path: Path, value: float) -> Config:
    """Set ``[matching] max_distance = value`` in the TOML file ``path`` (created if missing).

    Keeps every other line. Raises :class:`ConfigError` and leaves the file
    untouched when the edited file would not validate or would not carry
    ``value``. Returns the validated config.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    new = _edited(text, f"{value:.{DECIMALS}f}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".calibrate-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        try:
            cfg = load_config(tmp)
        except ConfigError as exc:
            raise ConfigError(f"{path}: not changed: the edited file would not validate: {exc}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    if cfg.matching.max_distance is None or not math.isclose(cfg.matching.max_distance, value, abs_tol=1e-12):
        raise ConfigError(f"{path}: not changed: the edit did not set [matching] max_distance "
                          f"(got {cfg.matching.max_distance})")
    atomic_write(path, new.encode("utf-8"))
    log.info("%s: [matching] max_distance = %s", path, f"{value:.{DECIMALS}f}")
    return cfg


def _edited(text: str, value: str) -> str:
    lines = text.splitlines(keepends=True)
    table = None  # None: top level; else the current header line's table
    matching_at = None
    for i, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        eol = raw[len(line):]
        if _HEADER.match(line):
            table = "matching" if _MATCHING.match(line) else "other"
            if table == "matching" and matching_at is None:
                matching_at = i
            continue
        m = (_IN_TABLE if table == "matching" else _TOP_LEVEL if table is None else None)
        hit = m.match(line) if m is not None else None
        if hit:
            lines[i] = f"{hit.group(1)}{value}{hit.group(3)}{eol}"
            return "".join(lines)
    if matching_at is not None:
        eol = "\r\n" if lines[matching_at].endswith("\r\n") else "\n"
        if not lines[matching_at].endswith(("\n", "\r")):
            lines[matching_at] += eol
        lines.insert(matching_at + 1, f"max_distance = {value}{eol}")
        return "".join(lines)
    sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")  # one blank line before it
    return f"{text}{sep}[matching]\nmax_distance = {value}\n"


def _embed_negatives(directory: Path, engine: Engine) -> np.ndarray | None:
    """The largest face of each photo in ``directory``, embedded by ``engine`` (the gallery's own
    engine and embedder); unreadable photos and photos without a face are skipped and logged."""
    paths = list_photos(directory)
    if not paths:
        raise FacecamError(f"--negatives-dir {directory}: no photos found")
    vectors = []
    for path in paths:
        try:
            rgb = decode_image(read_bytes(path), str(path))
        except InvalidImage as exc:
            log.warning("negatives: skipping %s: %s", path, exc)
            continue
        det = engine.detector.detect(rgb)
        if len(det) == 0:
            log.info("negatives: no face in %s", path)
            continue
        chosen = det.select(np.array([pick_face(det, rgb.shape[1], rgb.shape[0], "largest")]))
        vectors.append(np.asarray(engine.embedder.embed(rgb, chosen).vectors[0], np.float64))
    log.info("negatives: %d of %d photos gave a face", len(vectors), len(paths))
    return np.array(vectors) if vectors else None


def _fmt(x: float) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.4f}"
