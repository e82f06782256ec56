"""``python -m srlib.detect``: the command line is :mod:`srlib.cli.detect`."""

import sys

from srlib.cli.detect import *  # noqa: F403 (this module's names are the CLI's)
from srlib.cli.detect import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
