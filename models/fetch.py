"""Download pinned model files and refuse any whose sha256 differs from the manifest.

A manifest entry with ``url`` and ``sha256`` can be fetched into a cache
folder (``scripts/fetch_models.py``). The download streams into a temporary
file beside the target while hashing; only a file with the pinned sha256 is
renamed into place, so a partial or tampered download never looks like a
model. A file already present with the right hash is not downloaded again.
A machine without internet installs a copy carried over by hand
(:func:`install_copy`), held to the same sha256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from models import entry, load_manifest, sha256_file
from models.errors import ModelLoadError
from models.user import USER_MANIFEST_NAME, load_user_manifest

log = logging.getLogger(__name__)

CHUNK = 1 << 16
TIMEOUT_S = 60


def _entries(cache_dir: Path | None) -> dict[str, dict]:
    """The built-in manifest plus the user's ``models.toml`` in ``cache_dir`` (if any)."""
    user = load_user_manifest(Path(cache_dir) / USER_MANIFEST_NAME) if cache_dir is not None else {}
    return {**load_manifest(), **user}


def _entry(name: str, cache_dir: Path | None) -> dict:
    entries = _entries(cache_dir)
    return entries[name] if name in entries else entry(name)  # entry() raises, naming the known ones


def fetchable(cache_dir: Path | None = None) -> list[str]:
    """Entries that name a pinned download (``url`` and ``sha256``), the user's included."""
    return sorted(n for n, e in _entries(cache_dir).items() if e.get("url") and e.get("sha256"))


def fetched_path(name: str, cache_dir: Path) -> Path:
    """Where :func:`fetch_entry` puts entry ``name`` (it may not be there yet): a user entry's
    ``file`` beside its manifest (or where an absolute ``file`` says), else ``cache_dir/file``."""
    e = _entry(name, cache_dir)
    file = Path(e["file"]).expanduser()
    if "_manifest" in e:
        return file if file.is_absolute() else Path(e["_manifest"]).parent / file
    return Path(cache_dir) / file


def verified_fetched_path(name: str, cache_dir: Path) -> Path:
    """The fetched file of ``name``, after checking its sha256; a clear error if absent or wrong."""
    path = fetched_path(name, cache_dir)
    if not path.is_file():
        raise ModelLoadError(f"model {name!r} is not in {cache_dir}; fetch it with "
                             f"`python scripts/fetch_models.py {name} --out {cache_dir}`")
    got, want = sha256_file(path), _entry(name, cache_dir)["sha256"]
    if got != want:
        raise ModelLoadError(f"{path} has sha256 {got}, the manifest pins {want}; fetch it again")
    return path


def fetch_entry(name: str, cache_dir: Path) -> Path:
    """Download manifest entry ``name`` into ``cache_dir`` (unless already there and intact)."""
    e = _entry(name, cache_dir)
    if not (e.get("url") and e.get("sha256")):
        raise ModelLoadError(f"model {name!r} has no pinned url and sha256 in the manifest")
    dest = fetched_path(name, cache_dir)
    if dest.is_file() and sha256_file(dest) == e["sha256"]:
        log.info("%s is already in %s", name, cache_dir)
        return dest
    return download(e["url"], e["sha256"], dest)


def install_copy(name: str, source: Path, cache_dir: Path) -> Path:
    """Copy ``source`` into ``cache_dir`` as entry ``name``'s file if and only if it hashes to the pinned
    sha256 (for machines that cannot download)."""
    e = _entry(name, cache_dir)
    if not e.get("sha256"):
        raise ModelLoadError(f"model {name!r} has no pinned sha256 in the manifest")
    source, dest = Path(source), fetched_path(name, cache_dir)
    try:
        src = source.open("rb")
    except OSError as exc:
        raise ModelLoadError(f"cannot read {source}: {exc.strerror or exc}") from exc
    try:
        with src:
            _land(src, e["sha256"], dest, f"{source} is not the pinned file of {name}")
    except OSError as exc:
        raise ModelLoadError(f"cannot install {source} as {dest}: {exc.strerror or exc}") from exc
    log.info("installed %s from %s (%s)", dest, source, e["sha256"])
    return dest


def download(url: str, sha256: str, dest: Path, timeout_s: float = TIMEOUT_S) -> Path:
    """Fetch ``url`` to ``dest`` if and only if its bytes hash to ``sha256`` (hex)."""
    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310
            _land(resp, sha256, dest, f"{url}: downloaded file does not match the pinned sha256")
    except (urllib.error.URLError, OSError) as exc:
        raise ModelLoadError(f"cannot download {url}: {exc}") from exc
    log.info("fetched %s (%s)", dest, sha256)
    return dest


def _land(stream: BinaryIO, sha256: str, dest: Path, refusal: str) -> None:
    """Write ``stream`` to ``dest`` if and only if its bytes hash to ``sha256`` (hex): into a temporary file
    beside it, renamed into place only once the hash is right, so a partial or wrong file never looks like a
    model. Otherwise :class:`ModelLoadError` (``refusal``, the hashes added) and nothing is left behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        got = h.hexdigest()
        if got != sha256.lower():
            raise ModelLoadError(f"{refusal}: its sha256 is {got}, the manifest pins {sha256}; refusing it")
        os.chmod(tmp, 0o644)  # a model, no secret: readable by the daemon's user
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
