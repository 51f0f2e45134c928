"""The frame source protocol.

A source yields BGR uint8 frames (OpenCV's order; the capture worker turns
them into RGB :class:`~camera.types.Frame` objects). ``open`` raises
:class:`~camera.errors.CameraUnavailable` with a message that says what to
fix; ``read`` returns the next frame, ``None`` at the end of a file source,
and raises CameraUnavailable when a live source fails (the worker then
reconnects with backoff). ``live`` sources drop frames when inference is
busy; file sources do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class RawFrame:
    """One frame as a source produced it: BGR (H, W, 3) uint8 and its time in seconds.

    ``timestamp_s`` is the source's own clock: presentation time for a video
    file, a monotonic clock for live sources.
    """

    bgr: np.ndarray
    timestamp_s: float


@runtime_checkable
class FrameSource(Protocol):
    """Something that produces frames."""

    description: str
    live: bool

    def open(self) -> None:
        """Connect or open; raise CameraUnavailable saying what is wrong."""
        ...

    def read(self) -> RawFrame | None:
        """The next frame; ``None`` at the end of a file; CameraUnavailable on failure."""
        ...

    def close(self) -> None:
        """Release the device or file; safe to call twice."""
        ...
