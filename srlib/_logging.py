"""Console logging for srlib's command-line tools (the library itself only creates loggers)."""

from __future__ import annotations

import logging

__all__ = ["setup_cli_logging"]


def setup_cli_logging(level: int = logging.INFO) -> None:
    """Send ``srlib.*`` log records to the console once, without touching the root logger."""
    logger = logging.getLogger("srlib")
    logger.setLevel(level)
    if not any(getattr(h, "_srlib_cli", False) for h in logger.handlers):
        from rich.logging import RichHandler

        handler = RichHandler(show_time=False, show_path=False, markup=False)
        handler._srlib_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
