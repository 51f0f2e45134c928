"""Board profiles: settings sized for a Raspberry Pi 5, Pi 4 or Zero 2 W, beneath the user's own.

``profile = "pi4"`` at the top of the config (or ``facecam run --profile
pi4``) fills in each key of that profile that the config file and the command
line leave unset; a key the user sets explicitly always wins
(:meth:`camera.config.Config.with_profile`). Keys are dotted, as
:meth:`~camera.config.Config.with_overrides` takes them; ``cameras.*.KEY``
stands for that key of every camera. No profile names a detector: the
engine's default (YuNet where its model is fetched, else MMOD) suits every
board. Units: pixels (``detect_max_width``),
frames per second of the camera's clock (``fps_cap``), onnxruntime threads
per model (``threads``), JPEG quality 10-100 (``jpeg_quality``).

Why each value (measured costs, model FLOPs, published Pi timings):
docs/raspberry-pi.md, section "Profiles"; ``scripts/bench_profiles.py``
measures them again.
"""

from __future__ import annotations

#: ``cameras.*.KEY``: KEY of each configured camera
EVERY_CAMERA = "cameras.*."

PROFILES: dict[str, dict[str, object]] = {
    "pi5": {  # 4x Cortex-A76 at 2.4 GHz
        "engine.detect_max_width": 640,
        "engine.upsample": 0,
        "engine.threads": 3,
        "cameras.*.fps_cap": 10,
        "events.jpeg_quality": 90,
    },
    "pi4": {  # 4x Cortex-A72 at 1.5 GHz (1.8 GHz on later boards)
        "engine.detect_max_width": 480,
        "engine.upsample": 0,
        "engine.threads": 3,
        "cameras.*.fps_cap": 5,
        "events.jpeg_quality": 85,
    },
    "pi-zero-2": {  # 4x Cortex-A53 at 1 GHz, 512 MB of memory
        "engine.detect_max_width": 480,
        "engine.upsample": 0,
        "engine.threads": 3,
        "cameras.*.fps_cap": 2,
        "events.jpeg_quality": 75,
    },
}


def profile_names() -> str:
    """The valid profile names, for messages: ``"pi5, pi4, pi-zero-2"``."""
    return ", ".join(PROFILES)
