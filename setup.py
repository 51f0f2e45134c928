"""Builds the optional C loops (camera/dlibport/_fast.c); everything else is in pyproject.toml.

Without a C compiler the build skips the extension (``optional=True``) and the
onnx engine runs the same computation in numpy, ~2.5 ms a face slower.
"""

import sys

from setuptools import Extension, setup

# no fused multiply-add: a * b + c must round twice, as in numpy and dlib
flags = [] if sys.platform == "win32" else ["-O2", "-ffp-contract=off", "-fno-fast-math"]

setup(ext_modules=[Extension("camera.dlibport._fast", ["camera/dlibport/_fast.c"], extra_compile_args=flags, optional=True)])
