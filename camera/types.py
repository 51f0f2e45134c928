"""The small frozen dataclasses that cross stage boundaries.

Conventions live in names: images are ``rgb`` (H, W, 3) uint8 unless a name
says ``bgr``; boxes are ``xyxy`` in full-resolution pixels (x1, y1 exclusive
right/bottom edge x2, y2, as floats); times are UTC. Shapes are checked once,
in ``__post_init__``, and a mismatch says what was expected and what came.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np


def _check(cond: bool, what: str, expected: str, got: object) -> None:
    if not cond:
        raise ValueError(f"{what}: expected {expected}, got {got}")


@dataclass(frozen=True)
class Frame:
    """One picture from a source.

    ``rgb`` is (H, W, 3) uint8, C-contiguous. ``index`` counts frames the
    source produced (0-based, dropped frames included). ``timestamp_s`` is the
    source's own clock in seconds (a video's presentation time, or a monotonic
    clock for live cameras); ``wall_time`` is when it was captured, in UTC.
    """

    rgb: np.ndarray
    index: int
    timestamp_s: float
    wall_time: dt.datetime
    camera: str = "default"

    def __post_init__(self) -> None:
        a = self.rgb
        _check(isinstance(a, np.ndarray), "Frame.rgb", "a numpy array", type(a).__name__)
        _check(a.ndim == 3 and a.shape[2] == 3, "Frame.rgb shape", "(H, W, 3)", a.shape)
        _check(a.dtype == np.uint8, "Frame.rgb dtype", "uint8", a.dtype)
        _check(a.flags.c_contiguous, "Frame.rgb", "a C-contiguous array", "a strided view")

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, as parallel arrays.

    ``xyxy`` (n, 4) float32 pixel boxes in the full-resolution image;
    ``scores`` (n,) float32 detector confidence (higher is more sure; the
    scale depends on the detector); ``landmarks`` (n, 5, 2) float32 pixel
    points or ``None`` when the detector gives none.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check(self.xyxy.ndim == 2 and self.xyxy.shape[1] == 4, "Detections.xyxy shape",
               "(n, 4)", self.xyxy.shape)
        n = self.xyxy.shape[0]
        _check(self.scores.shape == (n,), "Detections.scores shape", f"({n},)", self.scores.shape)
        if self.landmarks is not None:
            _check(self.landmarks.shape == (n, 5, 2), "Detections.landmarks shape",
                   f"({n}, 5, 2)", self.landmarks.shape)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    @classmethod
    def from_trbl(cls, boxes: list[tuple[int, int, int, int]], scores: list[float] | None = None,
                  scale: float = 1.0) -> Detections:
        """From face_recognition's ``(top, right, bottom, left)`` boxes.

        ``scale`` multiplies the coordinates (boxes found on an image
        downscaled by ``1/scale`` map back to full resolution).
        """
        if not boxes:
            return cls.empty()
        trbl = np.asarray(boxes, dtype=np.float32) * scale
        xyxy = np.stack([trbl[:, 3], trbl[:, 0], trbl[:, 1], trbl[:, 2]], axis=1)
        s = np.ones(len(boxes), np.float32) if scores is None else np.asarray(scores, np.float32)
        return cls(xyxy, s)

    @classmethod
    def from_ltrb(cls, boxes: list[tuple[float, float, float, float]], scores: list[float], scale: float,
                  width: int, height: int) -> Detections:
        """From dlib's ``(left, top, right, bottom)`` rectangles found on an image downscaled by ``1/scale``.

        Coordinates are multiplied by ``scale``, clipped to the full-resolution
        ``width`` x ``height``, and the faces ordered by score, highest first.
        """
        if not boxes:
            return cls.empty()
        xyxy = np.asarray(boxes, np.float32) * np.float32(scale)
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        sc = np.asarray(scores, np.float32)
        order = np.argsort(-sc, kind="stable")
        return cls(xyxy[order], sc[order])

    def to_trbl(self) -> list[tuple[int, int, int, int]]:
        """As face_recognition's ``(top, right, bottom, left)`` integer boxes."""
        r = np.rint(self.xyxy).astype(int)
        return [(int(y1), int(x2), int(y2), int(x1)) for x1, y1, x2, y2 in r]

    def select(self, keep: np.ndarray) -> Detections:
        """The subset picked by a boolean mask or index array."""
        lm = None if self.landmarks is None else self.landmarks[keep]
        return Detections(self.xyxy[keep], self.scores[keep], lm)

    @property
    def sizes(self) -> np.ndarray:
        """Face size in pixels: the shorter side of each box, (n,)."""
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return wh.min(axis=1) if len(self) else np.zeros((0,), np.float32)


@dataclass(frozen=True)
class Embeddings:
    """Face descriptors, one row per detection, with the model that made them.

    ``vectors`` (n, d) float64 as the model outputs them (dlib's are not
    unit length; distances are Euclidean). ``model_id`` names the model and
    preprocessing version, so stored vectors are compared only with their own.
    """

    vectors: np.ndarray
    model_id: str

    def __post_init__(self) -> None:
        _check(self.vectors.ndim == 2, "Embeddings.vectors shape", "(n, d)", self.vectors.shape)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


UNKNOWN = "unknown"


@dataclass(frozen=True)
class Match:
    """The open-set decision for one face.

    ``person`` is a gallery name or :data:`UNKNOWN`. ``distance`` is the
    Euclidean distance to the nearest embedding of the nearest person (lower
    is more alike; ``inf`` for an empty gallery). ``max_distance`` is the
    threshold used: a face is named only when ``distance <= max_distance``.
    ``second_distance`` is the nearest distance of any other person.
    """

    person: str
    distance: float
    max_distance: float
    nearest: str | None = None
    second_distance: float = float("inf")

    @property
    def is_known(self) -> bool:
        return self.person != UNKNOWN


@dataclass(frozen=True)
class Alert:
    """What an alert sink delivers.

    ``time`` is UTC. ``box_xyxy`` is in full-resolution pixels of the frame.
    ``snapshot`` is the path of the saved JPEG, or ``None`` when none was saved.
    """

    id: str
    camera: str
    time: dt.datetime
    person: str
    distance: float
    box_xyxy: tuple[float, float, float, float]
    snapshot: str | None = None
    kind: str = "recognised"
    extra: dict[str, str] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, object]:
        """The documented JSON payload (all sinks send this)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "camera": self.camera,
            "time": self.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "person": self.person,
            "known": self.person != UNKNOWN,
            "distance": None if not np.isfinite(self.distance) else round(float(self.distance), 4),
            "box": [round(float(v), 1) for v in self.box_xyxy],
            "snapshot": self.snapshot,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }
