"""``python -m srlib.upscale``: the command line is :mod:`srlib.cli.upscale`."""

import sys
import types

from srlib.cli.upscale import *  # noqa: F403 (this module's names are the CLI's)
from srlib.cli.upscale import __all__, main  # noqa: F401
from srlib.inference import upscale


class _CallableModule(types.ModuleType):
    """Lets ``srlib.upscale(...)`` stay the function after this CLI module has been imported."""

    def __call__(self, *args, **kwargs):
        return upscale(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
