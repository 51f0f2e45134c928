"""The small frozen dataclasses that cross stage boundaries.

Conventions live in names and types: images are ``rgb`` (H, W, 3) uint8
unless a name says ``bgr``; boxes are ``xyxy`` in full-resolution pixels
(x1, y1 exclusive right/bottom edge x2, y2, as floats); landmarks carry their
:class:`LandmarkScheme` and are read by name, never by index; an alert's kind
is an :class:`AlertKind`; times are UTC. Shapes are checked once, in
``__post_init__``, and a mismatch says what was expected and what came.
Foreign orders stop at their adapters: ``Detections.from_trbl``
(face_recognition), ``.from_ltrb`` (dlib), ``.from_yunet`` (OpenCV's YuNet).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

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


class LandmarkScheme(enum.Enum):
    """Which five points a :class:`Landmarks` holds, in which order ("left" and "right" are the image's).

    - ``DLIB_5``: dlib's ``shape_predictor_5_face_landmarks``: the image-right
      eye's outer and inner corner, the image-left eye's outer and inner
      corner, the base of the nose.
    - ``EYES_NOSE_MOUTH``: the image-left eye's centre, the image-right eye's
      centre, the nose tip, the image-left and image-right mouth corner
      (YuNet's and InsightFace's order).
    """

    DLIB_5 = "dlib_5"
    EYES_NOSE_MOUTH = "eyes_nose_mouth"


@dataclass(frozen=True)
class Landmarks:
    """Five points per face, ``points`` (n, 5, 2) float32 pixels (x, y), in the order ``scheme`` says.

    Read them through :meth:`eye_centres` and :meth:`nose`: those answer the
    same for every scheme, so no stage depends on a detector's point order.
    """

    points: np.ndarray
    scheme: LandmarkScheme

    def __post_init__(self) -> None:
        _check(isinstance(self.scheme, LandmarkScheme), "Landmarks.scheme", "a LandmarkScheme", self.scheme)
        p = self.points
        _check(p.ndim == 3 and p.shape[1:] == (5, 2), "Landmarks.points shape", "(n, 5, 2)", p.shape)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def eye_centres(self) -> np.ndarray:
        """(n, 2, 2): the image-left eye's centre, then the image-right eye's, in pixels."""
        p = self.points.astype(np.float64)
        if self.scheme is LandmarkScheme.DLIB_5:
            return np.stack([p[:, 2:4].mean(axis=1), p[:, 0:2].mean(axis=1)], axis=1)
        return p[:, 0:2]

    def nose(self) -> np.ndarray:
        """(n, 2): the nose (dlib: the base of the nose; YuNet: its tip), in pixels."""
        p = self.points.astype(np.float64)
        return p[:, 4] if self.scheme is LandmarkScheme.DLIB_5 else p[:, 2]

    def select(self, keep: np.ndarray) -> Landmarks:
        """The faces picked by a boolean mask or index array."""
        return Landmarks(self.points[keep], self.scheme)

    def scaled(self, factor: float) -> Landmarks:
        """The points times ``factor`` (from a resized image back to full resolution)."""
        return Landmarks((self.points * np.float32(factor)).astype(np.float32), self.scheme)


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, as parallel arrays.

    ``xyxy`` (n, 4) float32 pixel boxes in the full-resolution image;
    ``scores`` (n,) float32 detector confidence (higher is more sure; the
    scale depends on the detector); ``landmarks`` five points per face with
    their scheme, or ``None`` when the detector gives none.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    landmarks: Landmarks | None = None

    def __post_init__(self) -> None:
        _check(self.xyxy.ndim == 2 and self.xyxy.shape[1] == 4, "Detections.xyxy shape",
               "(n, 4)", self.xyxy.shape)
        n = self.xyxy.shape[0]
        _check(self.scores.shape == (n,), "Detections.scores shape", f"({n},)", self.scores.shape)
        if self.landmarks is not None:
            _check(isinstance(self.landmarks, Landmarks), "Detections.landmarks", "Landmarks or None",
                   type(self.landmarks).__name__)
            _check(len(self.landmarks) == n, "Detections.landmarks", f"{n} faces", len(self.landmarks))

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

    @classmethod
    def from_yunet(cls, faces: np.ndarray | None, scale: float = 1.0) -> Detections:
        """From ``cv2.FaceDetectorYN``'s (n, 15) rows ``[x, y, w, h, 5 x (px, py), score]``, times ``scale``.

        Its five points are in :attr:`LandmarkScheme.EYES_NOSE_MOUTH` order
        (``../shared/models/yunet/SOURCE.md``); faces are ordered by score.
        """
        if faces is None or len(faces) == 0:
            return cls.empty()
        f = np.asarray(faces, np.float32)
        _check(f.ndim == 2 and f.shape[1] == 15, "YuNet output shape", "(n, 15)", f.shape)
        xyxy = np.stack([f[:, 0], f[:, 1], f[:, 0] + f[:, 2], f[:, 1] + f[:, 3]], axis=1) * np.float32(scale)
        points = f[:, 4:14].reshape(-1, 5, 2) * np.float32(scale)
        scores = f[:, 14]
        order = np.argsort(-scores, kind="stable")
        return cls(xyxy[order], scores[order], Landmarks(points[order], LandmarkScheme.EYES_NOSE_MOUTH))

    def to_trbl(self) -> list[tuple[int, int, int, int]]:
        """As face_recognition's ``(top, right, bottom, left)`` integer boxes."""
        r = np.rint(self.xyxy).astype(int)
        return [(int(y1), int(x2), int(y2), int(x1)) for x1, y1, x2, y2 in r]

    def to_dlib_rects(self) -> np.ndarray:
        """(n, 4) int64 dlib rectangles ``(left, top, right, bottom)``, rounded as face_recognition rounds them."""
        return np.array([(x0, t, r, b) for t, r, b, x0 in self.to_trbl()], np.int64).reshape(-1, 4)

    def clipped(self, width: int, height: int) -> Detections:
        """The boxes clipped to a ``width`` x ``height`` image (landmarks unchanged)."""
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        return Detections(xyxy, self.scores, self.landmarks)

    def with_landmarks(self, landmarks: Landmarks | None) -> Detections:
        """The same faces with other landmarks."""
        return Detections(self.xyxy, self.scores, landmarks)

    def select(self, keep: np.ndarray) -> Detections:
        """The subset picked by a boolean mask or index array."""
        lm = None if self.landmarks is None else self.landmarks.select(keep)
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


class AlertKind(enum.StrEnum):
    """Why an alert was raised (its JSON ``kind``)."""

    ARRIVED = "arrived"  #: a person away (or not yet seen) was named
    LEFT = "left"  #: a person home was not named anywhere for ``[presence] away_after_s``
    RECOGNISED = "recognised"  #: a new visit of someone already home, or an unknown face


@dataclass(frozen=True)
class AlertContext:
    """Where an alert came from, for consumers that link back (web app, evaluation); each may be ``None``.

    ``event_id`` the visit's event; ``track`` the track id on its camera;
    ``votes`` the good faces that agreed; ``video_time_s`` the camera's clock
    in seconds (a video's presentation time); ``frame`` the index of the
    frame of the best face; ``last_seen`` (``left`` alerts) when the person
    was last named, UTC.
    """

    event_id: str | None = None
    track: int | None = None
    votes: int | None = None
    video_time_s: float | None = None
    frame: int | None = None
    last_seen: dt.datetime | None = None

    def to_json_dict(self) -> dict[str, object]:
        """The fields that are set, JSON-ready (times as UTC ISO 8601 with ``Z``)."""
        out: dict[str, object] = {}
        for key, value in (("event", self.event_id), ("track", self.track), ("votes", self.votes),
                           ("video_time_s", self.video_time_s), ("frame", self.frame)):
            if value is not None:
                out[key] = round(value, 3) if isinstance(value, float) else value
        if self.last_seen is not None:
            out["last_seen"] = utc_iso(self.last_seen)
        return out

    @classmethod
    def from_json_dict(cls, d: dict[str, object]) -> AlertContext:
        """The inverse of :meth:`to_json_dict`."""
        seen = d.get("last_seen")
        return cls(event_id=_opt(d.get("event") or None, str), track=_opt(d.get("track"), int),
                   votes=_opt(d.get("votes"), int), video_time_s=_opt(d.get("video_time_s"), float),
                   frame=_opt(d.get("frame"), int),
                   last_seen=None if seen is None else dt.datetime.fromisoformat(str(seen).replace("Z", "+00:00")))


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
    kind: AlertKind = AlertKind.RECOGNISED
    context: AlertContext = AlertContext()

    def __post_init__(self) -> None:
        _check(isinstance(self.kind, AlertKind), "Alert.kind", f"one of {[k.value for k in AlertKind]}", self.kind)

    @property
    def known(self) -> bool:
        return self.person != UNKNOWN

    def to_json_dict(self) -> dict[str, object]:
        """The documented JSON payload (all sinks send this)."""
        ctx = self.context.to_json_dict()
        return {
            "id": self.id,
            "kind": self.kind.value,
            "camera": self.camera,
            "time": utc_iso(self.time),
            "person": self.person,
            "known": self.known,
            "distance": None if not np.isfinite(self.distance) else round(float(self.distance), 4),
            "box": [round(float(v), 1) for v in self.box_xyxy],
            "snapshot": self.snapshot,
            **({"extra": ctx} if ctx else {}),
        }

    @classmethod
    def from_json_dict(cls, d: dict[str, object]) -> Alert:
        """The inverse of :meth:`to_json_dict` (``distance`` ``None`` becomes ``nan``)."""
        distance = d.get("distance")
        box = tuple(float(v) for v in d["box"])  # type: ignore[attr-defined]
        return cls(id=str(d["id"]), camera=str(d["camera"]),
                   time=dt.datetime.fromisoformat(str(d["time"]).replace("Z", "+00:00")),
                   person=str(d["person"]), distance=float("nan") if distance is None else float(distance),  # type: ignore[arg-type]
                   box_xyxy=box,  # type: ignore[arg-type]
                   snapshot=_opt(d.get("snapshot"), str), kind=AlertKind(d["kind"]),
                   context=AlertContext.from_json_dict(d.get("extra") or {}))  # type: ignore[arg-type]


def utc_iso(t: dt.datetime) -> str:
    """``t`` as UTC ISO 8601 with a ``Z`` (a naive ``t`` is taken as UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _opt(value: object, kind: type) -> object:
    return None if value is None else kind(value)
