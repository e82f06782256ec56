"""``python -m srlib.worker``: the command line is :mod:`srlib.cli.worker`."""

import sys

from srlib.cli.worker import *  # noqa: F403 (this module's names are the CLI's)
from srlib.cli.worker import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
