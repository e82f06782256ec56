"""Catalogue datasets from the command line: list them, download (verify, extract) what is missing.

    python -m srlib.data list
    python -m srlib.data download Set5
    python -m srlib.data download DIV2K --split valid --kind hr --data-dir /data/sr
    python -m srlib.data make-video-pairs PHOTOS_DIR clips/ --hr-size 96x96 --frames 30

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


def _size(text: str) -> tuple[int, int]:
    """``HEIGHTxWIDTH`` as ``(height, width)``."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 96x128, got {text!r}") from None
    return height, width


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
    pairs = commands.add_parser(
        "make-video-pairs",
        help="LR/HR video pairs (OUT/lr, OUT/hr) from photos: a camera pan, encoded like an upload",
    )
    pairs.add_argument("images", help="a folder of photos (one clip per photo)")
    pairs.add_argument("out", help="the output root (OUT/hr/NAME.mp4 + OUT/lr/NAME.mp4)")
    pairs.add_argument(
        "--hr-size", type=_size, default=(96, 128), help="HR frame HEIGHTxWIDTH (default 96x128)"
    )
    pairs.add_argument("--lr-size", type=_size, help="LR frame HEIGHTxWIDTH (default: HR / scale)")
    pairs.add_argument("--scale", type=int, default=4, help="for the default LR size (default 4)")
    pairs.add_argument("--frames", type=int, default=30, help="frames per clip (default 30)")
    pairs.add_argument("--fps", type=float, default=25.0)
    pairs.add_argument("--hr-crf", type=float, default=12, help="H.264 CRF of the HR encode (default 12)")
    pairs.add_argument("--lr-crf", type=float, default=28, help="H.264 CRF of the LR encode (default 28)")
    pairs.add_argument("--seed", type=int, default=0, help="the camera paths")
    pairs.add_argument("--limit", type=int, help="at most this many photos")
    pairs.add_argument("--no-audio", action="store_true", help="no audio track")
    args = parser.parse_args(argv)
    setup_cli_logging(logging.INFO)
    try:
        if args.command == "list":
            print(_listing())
            return 0
        if args.command == "make-video-pairs":
            from srlib.data.video.synthetic import CameraPan, make_video_pairs

            names = make_video_pairs(
                args.images,
                args.out,
                hr_size=args.hr_size,
                lr_size=args.lr_size,
                scale=args.scale,
                pan=CameraPan(frames=args.frames, seed=args.seed),
                fps=args.fps,
                hr_crf=args.hr_crf,
                lr_crf=args.lr_crf,
                audio=not args.no_audio,
                limit=args.limit,
            )
            print(f"{len(names)} video pair(s) in {args.out}")
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
