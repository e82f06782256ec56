"""``python -m srlib.export``: the command line is :mod:`srlib.cli.export`."""

import sys

from srlib.cli.export import *  # noqa: F403 (this module's names are the CLI's)
from srlib.cli.export import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
