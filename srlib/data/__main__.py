"""``python -m srlib.data``: the command line is :mod:`srlib.cli.data`."""

import sys

from srlib.cli.data import *  # noqa: F403 (this module's names are the CLI's)
from srlib.cli.data import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
