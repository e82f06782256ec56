"""Tell which images are pixelated: ``python -m srlib.detect PATH... [--json FILE] [--csv FILE]``.

PATH is an image or a folder of images (``--recursive`` for sub-folders). Each file gets the probability
that it is pixelated and a verdict at ``--threshold`` (default: the one shipped with the detector),
printed as a table; ``--json`` / ``--csv`` write the same records (path, probability, pixelated, error)
to a file, atomically. ``--model`` takes a registered detector (``mobilenetv3_canny``, the default,
with its shipped weights; ``block_period``, the classical baseline) or a detector weight file.

Large images are scored on native-resolution tiles (never resized); images under 64 px on a side,
unreadable and corrupt files get no verdict: they are named in the table with the reason, the others
are still scored, and the exit code is 2. See docs/detect.md.
"""

from __future__ import annotations

import csv
import io
import logging
import sys
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from srlib._cli import ArgumentParser, check_writable, run_cli
from srlib._logging import setup_cli_logging

__all__ = ["main"]

log = logging.getLogger("srlib.detect")


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m srlib.detect", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="images or folders of images")
    parser.add_argument("--model", default="mobilenetv3_canny", help="registered detector or weight file")
    parser.add_argument("--threshold", type=float, default=None, help="probability above which = pixelated")
    parser.add_argument("--json", type=Path, default=None, help="write the records as JSON")
    parser.add_argument("--csv", type=Path, default=None, help="write the records as CSV")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bf16", "fp16", "fp32"],
        help="auto = bf16 only where native",
    )
    parser.add_argument("--device", default=None, help="cpu (default), cuda, cuda:1, ...")
    parser.add_argument(
        "--aggregate", choices=["mean", "max"], default="mean", help="how tile logits combine"
    )
    parser.add_argument("--recursive", action="store_true", help="include sub-folders of a folder")
    parser.add_argument("--max-pixels", type=int, default=None, help="refuse larger images (from the header)")
    return parser


def _table(records: list[dict]) -> str:
    width = max([len("file")] + [len(r["path"]) for r in records])
    lines = [f"{'file':<{width}}  probability  verdict"]
    for r in records:
        if r["error"] is not None:
            lines.append(f"{r['path']:<{width}}  {'-':>11}  ERROR: {r['error']}")
        else:
            verdict = "pixelated" if r["pixelated"] else "clean"
            lines.append(f"{r['path']:<{width}}  {r['probability']:>11.4f}  {verdict}")
    return "\n".join(lines)


def _csv_bytes(records: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["path", "probability", "pixelated", "error"], lineterminator="\n"
    )
    writer.writeheader()
    for r in records:
        writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return out.getvalue().encode()


def _run(args: Namespace) -> int:
    from srlib._fs import atomic_write, write_json
    from srlib.detect.models import resolve_detector
    from srlib.detect.predict import DetectorRunner, detect_files, expand_inputs

    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        raise ValueError(f"--threshold must be a probability strictly between 0 and 1; got {args.threshold}.")
    for out in (args.json, args.csv):
        if out is not None:
            check_writable(out)
    files = expand_inputs(args.paths, recursive=args.recursive)
    net = resolve_detector(args.model, threshold=args.threshold)
    runner = DetectorRunner(net, device=args.device, dtype=args.dtype, aggregate=args.aggregate)
    records = [v.record() for v in detect_files(files, runner, max_pixels=args.max_pixels)]
    print(_table(records))
    flagged = sum(1 for r in records if r["pixelated"])
    failed = [r for r in records if r["error"] is not None]
    print(
        f"{len(records)} files: {flagged} pixelated, {len(records) - flagged - len(failed)} clean, "
        f"{len(failed)} without verdict (threshold {runner.threshold:.4g}, {args.model})"
    )
    if args.json is not None:
        payload = {"model": args.model, "threshold": runner.threshold, "images": records}
        write_json(args.json, payload)
    if args.csv is not None:
        atomic_write(args.csv, lambda f: f.write(_csv_bytes(records)))
    if failed:
        raise ValueError(
            f"{len(failed)} of {len(records)} files got no verdict (listed above: {failed[0]['path']}"
            f"{', ...' if len(failed) > 1 else ''}); the others were scored."
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.detect``)."""
    args = _parser().parse_args(argv)
    setup_cli_logging(logging.WARNING)
    return run_cli(lambda: _run(args), outputs=[args.json, args.csv])


if __name__ == "__main__":
    sys.exit(main())
