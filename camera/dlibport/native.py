"""The optional C loops (``camera/dlibport/_fast.c``) of the onnx engine: landmarks, chips, MMOD pyramid.

:func:`native` returns the compiled module, or ``None`` when it was not built
(no C compiler at install time) or ``FACECAM_NATIVE=0`` asks for numpy. Both
paths give identical results (tests/onnx_engine/test_landmarks_align.py runs
the parity tests on each); the C one saves ~2.5 ms a face and ~10 ms a
640x360 frame's detection on these 2 cores.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from types import ModuleType

log = logging.getLogger(__name__)

#: Set to ``0`` to run the numpy code even where the C loops are built.
NATIVE_ENV = "FACECAM_NATIVE"


@functools.cache
def native() -> ModuleType | None:
    """``camera.dlibport._fast``, or ``None`` (numpy) when it is missing or turned off."""
    if os.environ.get(NATIVE_ENV, "1").strip() == "0":
        log.info("%s=0: landmarks and chips in numpy", NATIVE_ENV)
        return None
    try:  # the optional C extension, built by pip where a C compiler was found
        fast = importlib.import_module("camera.dlibport._fast")
    except ImportError:
        log.info("camera.dlibport._fast is not built (no C compiler at install?): landmarks and chips in numpy")
        return None
    return fast
