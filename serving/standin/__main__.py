"""Runs the stand-in server: `python -m serving.standin DIR/serving` (flags and exit status: `cli`)."""

import sys

from serving.standin.cli import main

if __name__ == "__main__":
    sys.exit(main())
