"""facecam: local, private face recognition for smart-home cameras.

The package reads like the data's path: ``capture`` (frame sources) →
``engines`` (detection, landmarks, embedding) → ``matching`` → ``alerts``,
with ``gallery`` (the enrolled people), ``config`` and ``pipeline`` (the one
place that wires the stages together). ``cli`` is the ``facecam`` command.
"""

__version__ = "0.1.0"
