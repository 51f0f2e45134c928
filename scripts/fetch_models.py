"""Download the pinned extra models (e.g. YuNet) into facecam's model folder, checking sha256.

    python scripts/fetch_models.py                 # every entry with a pinned url
    python scripts/fetch_models.py yunet_2026may   # into the folder `facecam run` reads
    python scripts/fetch_models.py yunet_2026may --out data/models
    python scripts/fetch_models.py yunet_2026may --from /media/usb/face_detection_yunet_2026may.onnx

The default folder is the one ``facecam run`` reads: ``$FACECAM_MODEL_DIR``,
else ``DATA_DIR/models`` (``--data-dir``, else ``$FACECAM_DATA_DIR``, else
the user data directory).

A download whose sha256 differs from models/manifest.toml is refused and
removed; so is a ``--from`` copy (for a machine without internet). The dlib models need no download: ``python -m models.convert``
builds them from the face_recognition_models package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from camera.app import data_dir, model_dir  # noqa: E402
from camera.config import Config  # noqa: E402
from models.errors import ModelLoadError  # noqa: E402
from models.fetch import fetch_entry, fetchable, install_copy  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"entries to fetch (default: every pinned one: {', '.join(fetchable())}, and the "
                             "user's in OUT/models.toml)")
    parser.add_argument("--out", type=Path, default=None,
                        help="model folder (default: the one `facecam run` reads, see above); user entries in "
                             "its models.toml are fetched beside it")
    parser.add_argument("--data-dir", type=Path, help="facecam's data directory (for the default --out)")
    parser.add_argument("--from", dest="source", type=Path, metavar="FILE",
                        help="install this copy of the one NAME instead of downloading it (sha256 checked)")
    args = parser.parse_args(argv)
    if args.source is not None and len(args.names) != 1:
        parser.error("--from FILE installs one model: name it (e.g. yunet_2026may)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = args.out or model_dir(data_dir(Config(), args.data_dir))
    try:
        pinned = fetchable(out)
    except ModelLoadError as exc:
        print(f"fetch_models: {exc}", file=sys.stderr)
        return 1
    names = args.names or pinned
    unknown = [n for n in names if n not in pinned]
    if unknown:
        parser.error(f"no pinned download for {', '.join(unknown)}; choose from {', '.join(pinned)}")
    try:
        for name in names:
            path = install_copy(name, args.source, out) if args.source else fetch_entry(name, out)
            print(f"{name}\t{path}")
    except ModelLoadError as exc:
        print(f"fetch_models: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
