"""Catalogue datasets from the command line: list them, download (verify, extract) what is missing.

    python -m srlib.data list
    python -m srlib.data download Set5
    python -m srlib.data download DIV2K --split valid --kind hr --data-dir /data/sr

Offline, copy an archive to ``<data dir>/downloads/`` first: ``download`` then checks and extracts it
without network access. Exit code 0 on success, 2 with one ``error:`` line otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from srlib._logging import setup_cli_logging
from srlib.data.catalogue import get_dataset, list_datasets
from srlib.data.download import DEFAULT_TIMEOUT, ENV_DATA_DIR, prepare_dataset

__all__ = ["main"]


def _listing() -> str:
    """One line per catalogue entry: name, splits, official LR scales, description."""
    lines = []
    for name in list_datasets():
        spec = get_dataset(name)
        if spec.is_union:
            what = f"{' + '.join(spec.components)}; splits {', '.join(spec.splits)}"
        else:
            scales = spec.scales(spec.default_split)
            lr = f"; LR x{', x'.join(map(str, scales))}" if scales else "; HR only"
            what = f"splits {', '.join(spec.splits)}{lr}"
        lines.append(f"{spec.name:<10} {what}. {spec.description}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.data``)."""
    parser = argparse.ArgumentParser(prog="python -m srlib.data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the datasets srlib can download")
    get = commands.add_parser("download", help="download, verify and extract what is missing of a dataset")
    get.add_argument("name", help="catalogue name (case-insensitive), e.g. Set5, DIV2K, T91")
    get.add_argument("--split", help="only this split: train, valid or test (default: all)")
    get.add_argument("--kind", choices=["hr", "lr"], help="only HR or only LR images (default: both)")
    get.add_argument("--scale", type=int, help="only this LR scale (default: all)")
    default_dir = f"${ENV_DATA_DIR} or ~/.cache/srlib/datasets"
    get.add_argument("--data-dir", help=f"where datasets live (default: {default_dir})")
    get.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per network operation")
    get.add_argument("--keep-archives", action="store_true", help="keep the archives after extraction")
    get.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    setup_cli_logging(logging.INFO)
    try:
        if args.command == "list":
            print(_listing())
            return 0
        root = prepare_dataset(
            args.name,
            args.data_dir,
            progress=not args.no_progress,
            split=args.split,
            kind=args.kind,
            scale=args.scale,
            timeout=args.timeout,
            keep_archives=args.keep_archives,
        )
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{get_dataset(args.name).name} is ready in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
