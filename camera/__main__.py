"""``python -m camera`` is the same as the ``facecam`` command."""

import sys

from camera.cli import main

if __name__ == "__main__":
    sys.exit(main())
