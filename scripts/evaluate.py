#!/usr/bin/env python3
"""Offline evaluation of facecam's engines; see ``camera/evaluation/cli.py`` or ``--help``."""

import sys

from camera.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
