"""The one door to the ``face_recognition`` library and dlib (the ``dlib`` engine; ``pip install facecam[dlib]``).

face_recognition's ``(top, right, bottom, left)`` boxes stop here and in
:meth:`camera.types.Detections.from_trbl`. Nothing on the onnx path imports
this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from camera.errors import ModelLoadError
from camera.types import Detections, Landmarks, LandmarkScheme


def api() -> Any:
    """``face_recognition.api``, turning its misleading failures into one clear error."""
    try:
        import face_recognition.api as fr_api  # optional: facecam[dlib]
    except (ImportError, SystemExit) as exc:  # it calls quit() when its models are missing
        raise ModelLoadError(
            "the dlib engine and the hog and dlib_cnn detectors need face_recognition and dlib-bin: run "
            f"scripts/setup.sh --dlib (or pip install 'facecam[dlib]' and face-recognition --no-deps): {exc}"
        ) from exc
    return fr_api


def rectangle(left: int, top: int, right: int, bottom: int) -> Any:
    """A ``dlib.rectangle`` (pixels, inclusive corners)."""
    import dlib  # present whenever api() worked

    return dlib.rectangle(int(left), int(top), int(right), int(bottom))


def landmarks_5(rgb: np.ndarray, det: Detections) -> Landmarks:
    """dlib's 5-point landmarks of each face (about 1 ms a face), on the rectangles face_encodings uses."""
    fr = api()
    pts = [[(p.x, p.y) for p in fr.pose_predictor_5_point(rgb, rectangle(left, top, right, bottom)).parts()]
           for left, top, right, bottom in det.to_dlib_rects()]
    return Landmarks(np.asarray(pts, np.float32).reshape(len(det), 5, 2), LandmarkScheme.DLIB_5)


def face_chip(rgb: np.ndarray, left: int, top: int, right: int, bottom: int, size: int = 150,
              padding: float = 0.25) -> np.ndarray:
    """``dlib.get_face_chip`` of the face in that rectangle: (size, size, 3) uint8 RGB."""
    import dlib

    shape = api().pose_predictor_5_point(rgb, rectangle(left, top, right, bottom))
    return dlib.get_face_chip(rgb, shape, size, padding)
