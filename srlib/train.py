"""``python -m srlib.train``: the command line is :mod:`srlib.cli.train`."""

import sys

from srlib.cli.train import *  # noqa: F403 (this module's names are the CLI's)
from srlib.cli.train import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
