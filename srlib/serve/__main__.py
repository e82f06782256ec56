"""``python -m srlib.serve``: the command line is :mod:`srlib.cli.serve`."""

import sys

from srlib.cli.serve import *  # noqa: F403 (this module's names are the CLI's)
from srlib.cli.serve import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
