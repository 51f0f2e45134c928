"""Smoke test for a Raspberry Pi camera, run by hand on the Pi (there is no camera on the build machines).

    .venv/bin/python scripts/pi_camera_smoke.py                      # picamera (rpicam-vid), 10 s
    .venv/bin/python scripts/pi_camera_smoke.py --source picamera2 --seconds 30

Opens the camera through facecam's own source (``camera.capture.open_source``,
the code ``facecam run --source picamera`` uses), reads frames for the given
number of seconds, and prints the frame size, frames a second, and (for the
rpicam-vid source) the frames skipped for newer ones and rpicam-vid starts.
Exit status 0 when frames came, 2 when the camera could not be opened or sent
nothing (the one-line error says why).
"""

from __future__ import annotations

import argparse
import sys
import time

from camera.capture import open_source
from camera.errors import CameraUnavailable


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default="picamera", help="picamera, picamera:N, picamera2 or picamera2:N "
                   "(default: picamera)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to read frames (default: 10)")
    args = p.parse_args(argv)
    try:
        source = open_source(args.source)
        t0 = time.monotonic()
        source.open()
        opened_s = time.monotonic() - t0
    except CameraUnavailable as exc:
        print(f"pi_camera_smoke: error: {exc}", file=sys.stderr)
        return 2
    frames, size, t1 = 0, None, time.monotonic()
    try:
        while time.monotonic() - t1 < args.seconds:
            raw = source.read()
            if raw is None:
                break
            frames += 1
            size = raw.bgr.shape
    except CameraUnavailable as exc:
        print(f"pi_camera_smoke: error after {frames} frames: {exc}", file=sys.stderr)
        return 2
    finally:
        source.close()
    elapsed = time.monotonic() - t1
    if not frames or size is None:
        print("pi_camera_smoke: error: no frames", file=sys.stderr)
        return 2
    print(f"{source.description}: opened in {opened_s:.1f} s; {frames} frames of {size[1]}x{size[0]} "
          f"in {elapsed:.1f} s = {frames / elapsed:.1f} fps")
    for counter in ("skipped", "undecodable", "starts"):
        if hasattr(source, counter):
            print(f"  {counter}: {getattr(source, counter)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
