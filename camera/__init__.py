"""facecam: local, private face recognition for smart-home cameras.

The package reads like the data's path, one folder per stage: ``capture``
(frame sources) → ``motion`` (is anything moving?) → ``detect`` (faces, a
registry of detectors) → ``track`` (quality, tracks, the decision over a
track) → ``embed`` (descriptors, a registry of embedders) → ``matching``
(against the ``gallery``) → ``events`` (visits, presence, the event store)
→ ``alerts`` (rules, the outbox, the sinks). ``pipeline`` is the one place
that wires the stages together, ``app`` builds everything from ``config``,
``service`` is what the CLI and the web API do, ``cli`` is the ``facecam``
command. ``dlibport`` is dlib's face pipeline without dlib;
``face_recognition`` a drop-in for that library's API; ``evaluation`` the
offline measurements. See ``docs/architecture.md``.
"""

import os

__version__ = "0.1.0"

# onnxruntime (>= 1.29 on Linux) records usage events under ~/.cache/Microsoft and sends them to Microsoft
# unless this is set before it is loaded; it reads the variable once, at load time, so here, before any
# module of the package can import it. Nothing leaves the machine unless a configured sink sends it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
