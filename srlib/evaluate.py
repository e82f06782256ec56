"""``python -m srlib.evaluate``: the command line is :mod:`srlib.cli.evaluate` (library: srlib.evaluation)."""

import sys

from srlib.cli.evaluate import *  # noqa: F403 (this module's names are the CLI's)
from srlib.cli.evaluate import __all__, main  # noqa: F401
from srlib.evaluation import *  # noqa: F403 (every library name, importable from here as before the split)

if __name__ == "__main__":
    sys.exit(main())
