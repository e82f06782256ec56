"""Upscale images, folders and videos: ``python -m srlib.upscale IN OUT --model NAME_OR_WEIGHTS``.

IN is an image, a folder of images (mirrored into the folder OUT; ``--recursive`` for sub-folders)
or a video file (``upscale_video``: audio kept, same frames and timing). ``--model`` takes a registered
name (random weights unless ``--weights FILE``), a weight file (srlib ``.safetensors`` or a recognised
``.pth``) or an ``.onnx`` export. The model runs at its own scale (``--scale`` picks one for
multi-scale names); ``--outscale`` / ``--size WxH`` / ``--height H`` set any final size, reached with
one ``--filter`` resize. A model trained on video frame pairs of another size ratio brings its
``FramePairPolicy`` in its weight file and is applied as it was trained (``--no-policy`` to skip).

Outputs are written atomically; an existing output is replaced only with ``--overwrite`` (in a folder
it is skipped, so a re-run continues), and never the input. Images over the pixel limit
(``--max-pixels``, ``$SRLIB_MAX_IMAGE_PIXELS``, 100 megapixels by default) are refused from the header.
Failures print one ``error:`` line and exit with code 2 (``SRLIB_DEBUG=1`` adds the traceback); in a
folder, the good files are written and the bad ones listed. ``--only-pixelated`` upscales only the images
srlib's pixelation detector flags and lists the others (``srlib.detect``, docs/detect.md).
"""

from __future__ import annotations

import logging
import sys
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from srlib._cli import ArgumentParser, check_writable, run_cli
from srlib._logging import setup_cli_logging
from srlib.inference import upscale
from srlib.inference.output_size import OutputSize

__all__ = ["main", "upscale"]

log = logging.getLogger(__name__)

SEGMENT_FRAMES_DEFAULT = 300  # srlib.inference.segments.SEGMENT_FRAMES (not imported: it loads PyAV)


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m srlib.upscale", description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path, help="image, folder of images, or video")
    parser.add_argument("output", type=Path, help="output file (or folder for a folder / an existing folder)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True, help="registered name, weight file or .onnx file")
    model.add_argument("--weights", help="weight file to load into a registered model")
    model.add_argument("--scale", type=int, default=None, help="the model's scale (default: its own)")
    model.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    model.add_argument(
        "--no-policy", action="store_true", help="ignore a FramePairPolicy stored with the weights"
    )
    run = parser.add_argument_group("running")
    run.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bf16", "fp16", "fp32"],
        help="auto (default) = bf16/fp16 only where the device computes it natively",
    )
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cpu)")
    run.add_argument("--tile", type=int, default=None, help="tile size in input pixels (bounded memory)")
    run.add_argument("--tile-overlap", type=int, default=16, help="input pixels shared by neighbouring tiles")
    run.add_argument("--devices", type=int, default=1, help="processes for a folder (Trainer.predict, DDP)")
    run.add_argument("--accelerator", default="cpu", help="with --devices: cpu, gpu, ...")
    run.add_argument("--num-nodes", type=int, default=1, help="machines taking part (multi-node DDP)")
    size = parser.add_argument_group("output size").add_mutually_exclusive_group()
    size.add_argument("--outscale", type=float, help="final size = input size x this")
    size.add_argument("--size", metavar="WxH", help="final width x height")
    size.add_argument("--height", type=int, help="final height (width keeps the aspect ratio, even)")
    parser.add_argument("--filter", default="bicubic", help="resize filter for the final size")
    files = parser.add_argument_group("files")
    files.add_argument("--alpha", choices=["model", "bicubic"], default="model", help="how alpha is upscaled")
    files.add_argument("--ext", default=None, help="output format for a folder (png, webp, tiff, jpg, bmp)")
    files.add_argument("--recursive", action="store_true", help="include sub-folders of a folder")
    files.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    files.add_argument(
        "--only-pixelated",
        action="store_true",
        help="upscale only the images the pixelation detector flags (srlib.detect); list the others",
    )
    files.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse larger inputs (default $SRLIB_MAX_IMAGE_PIXELS or 100000000)",
    )
    files.add_argument("--no-progress", action="store_true")
    video = parser.add_argument_group("video")
    video.add_argument("--batch-size", type=int, default=4, help="frames per model call")
    video.add_argument("--codec", default="libx264")
    video.add_argument("--crf", type=int, default=18)
    video.add_argument("--preset", default="medium")
    video.add_argument(
        "--pix-fmt",
        default=None,
        help="output pixel format: yuv420p10le, yuv444p, ... (default: 10-bit for a deeper input, "
        "else yuv420p)",
    )
    video.add_argument(
        "--segment-frames",
        type=int,
        default=None,
        metavar="N",
        help="cut a video into segments of N frames recorded in a journal next to OUT, so a rerun after a "
        f"crash resumes where it stopped (default: {SEGMENT_FRAMES_DEFAULT}; 0: one pass, nothing kept on "
        "failure)",
    )
    resume = video.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        action="store_true",
        help="resume an interrupted job from its journal (the default when one for the same input, model "
        "and settings exists; one for other settings is refused)",
    )
    resume.add_argument(
        "--restart", action="store_true", help="discard an interrupted job's journal and start again"
    )
    video.add_argument(
        "--queue",
        metavar="URL",
        help="queue the video as a durable job at URL (sqlite:///PATH/queue.db or redis://HOST:PORT/DB) "
        "instead of upscaling it here; workers (python -m srlib.worker --queue URL) run it",
    )
    video.add_argument(
        "--video-stream",
        type=int,
        default=None,
        metavar="N",
        help="which video stream to upscale (0, 1, ...) when the input has several (default: refuse)",
    )
    return parser


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size takes WIDTHxHEIGHT, e.g. 1920x1080; got {text!r}.") from None
    return w, h


def _load_model(args: Namespace):
    """The model the arguments name (:func:`srlib.inference.loader.load_upscaling_model`)."""
    from srlib.inference.loader import load_upscaling_model

    return load_upscaling_model(
        args.model,
        scale=args.scale,
        weights=args.weights,
        use_policy=not args.no_policy,
        backend=args.backend,
    )


def _output_size(args: Namespace, policy) -> OutputSize:
    return OutputSize(
        outscale=args.outscale, size=_size(args.size), height=args.height, filter=args.filter, policy=policy
    )


def _run(args: Namespace) -> int:
    from srlib.inference.engine import Upscaler

    src, dst = args.input, args.output
    if not src.exists():
        raise FileNotFoundError(2, "No such file or folder", str(src))
    loaded = _load_model(args)
    output = _output_size(args, loaded.frame_policy)
    upscaler = Upscaler(
        loaded.net, device=args.device, dtype=args.dtype, tile=args.tile, tile_overlap=args.tile_overlap
    )
    if src.is_dir():
        return _run_folder(args, upscaler, output)
    if dst.is_dir():
        dst = dst / src.name
    if dst.exists() and dst.resolve() == src.resolve():
        raise ValueError("OUT is the input file; choose another output path so the original is kept.")
    check_writable(dst)
    if dst.exists() and not args.overwrite:
        raise ValueError(f"{dst} exists; pass --overwrite to replace it.")
    if args.only_pixelated:
        from srlib.detect.pipeline import clean_image_check

        reason = clean_image_check(max_pixels=args.max_pixels)(src)
        if reason is not None:
            print(f"{src}: {reason}; not upscaled")
            return 0
    from srlib.io.video import VIDEO_EXTENSIONS

    if args.queue and src.suffix.lower() in VIDEO_EXTENSIONS:
        return _queue_video(args, src, dst)
    if args.queue:
        raise ValueError(f"--queue takes videos ({', '.join(sorted(VIDEO_EXTENSIONS))}); {src} is not one.")
    if src.suffix.lower() in VIDEO_EXTENSIONS:
        from srlib.inference.segments import can_segment
        from srlib.inference.video import upscale_video

        segment_frames = SEGMENT_FRAMES_DEFAULT if args.segment_frames is None else args.segment_frames
        if segment_frames < 0:
            raise ValueError(f"--segment-frames must be 0 (one pass) or more, got {segment_frames}.")
        if segment_frames and not can_segment(dst):
            if args.segment_frames:
                raise ValueError(
                    f"{dst.suffix} stores a constant frame rate, which segments cannot be joined into; write "
                    ".mp4 or .mkv, or pass --segment-frames 0."
                )
            log.warning("%s: %s outputs are written in one pass (not resumable)", dst, dst.suffix)
            segment_frames = 0
        report = upscale_video(
            src,
            dst,
            upscaler,
            batch_size=args.batch_size,
            output=output,
            codec=args.codec,
            crf=args.crf,
            preset=args.preset,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            max_pixels=args.max_pixels,
            video_stream=args.video_stream,
            segment_frames=segment_frames or None,
            restart=args.restart,
            pix_fmt=args.pix_fmt,
        )
        reused = report.segments_reused
        reused = f", {reused} of {report.segments} segments resumed" if reused else ""
        print(f"{src} -> {dst}: {report.frames} frames, {report.frames_per_second:.2f} frames/s{reused}")
        return 0
    from srlib.inference.upscale import upscale_picture
    from srlib.io.pictures import read_picture, write_picture

    picture = read_picture(src, max_pixels=args.max_pixels)
    result = upscale_picture(picture, upscaler, output=output, alpha=args.alpha)
    write_picture(dst, result)
    (h, w), (oh, ow) = picture.size, result.size
    print(f"{src} ({w}x{h}) -> {dst} ({ow}x{oh})")
    return 0


def _queue_video(args: Namespace, src: Path, dst: Path) -> int:
    """Submit the video as a queued job (srlib.serve.queue) and print its id."""
    from srlib.serve.queue import open_queue, submit_video

    if args.backend != "torch" or args.devices != 1:
        raise ValueError(
            "--queue jobs run the torch backend, one device per worker: drop --backend/--devices."
        )
    queue = open_queue(args.queue)
    job = submit_video(
        queue,
        {
            "src": str(src),
            "dst": str(dst),
            "model": args.model,
            "weights": args.weights,
            "scale": args.scale,
            "use_policy": not args.no_policy,
            "backend": args.backend,
            "dtype": args.dtype,
            "device": args.device,
            "tile": args.tile,
            "tile_overlap": args.tile_overlap,
            "batch_size": args.batch_size,
            "output": {
                "outscale": args.outscale,
                "size": _size(args.size),
                "height": args.height,
                "filter": args.filter,
            },
            "codec": args.codec,
            "pix_fmt": args.pix_fmt,
            "crf": args.crf,
            "preset": args.preset,
            "segment_frames": args.segment_frames or SEGMENT_FRAMES_DEFAULT,
            "video_stream": args.video_stream,
            "max_pixels": args.max_pixels,
            "overwrite": args.overwrite,
        },
    )
    print(f"queued job {job}: {src} -> {dst}; run it with: python -m srlib.worker --queue {args.queue}")
    return 0


def _run_folder(args: Namespace, upscaler, output) -> int:
    from srlib.inference.upscale import folder_pairs, upscale_file, upscale_folder

    check_writable(args.output, folder=True)
    pairs = folder_pairs(args.input, args.output, suffix=args.ext, recursive=args.recursive)
    options = {
        "alpha": args.alpha,
        "max_pixels": args.max_pixels,
        "output": output,
        "video_options": {
            "batch_size": args.batch_size,
            "codec": args.codec,
            "pix_fmt": args.pix_fmt,
            "crf": args.crf,
            "preset": args.preset,
        },
    }
    if args.only_pixelated and (args.devices > 1 or args.num_nodes > 1):
        raise ValueError("--only-pixelated works in one process; drop --devices/--num-nodes.")
    if args.devices > 1 or args.num_nodes > 1:
        from srlib.inference.batch import upscale_files
        from srlib.inference.engine import Upscaler

        todo = [(s, d) for s, d in pairs if args.overwrite or not d.exists()]
        per_rank: dict[int, Upscaler] = {}

        def process(src: str, dst: str, model) -> None:
            # Each rank's copy of the model sits on that rank's device (Lightning moved it there).
            if id(model) not in per_rank:
                per_rank[id(model)] = Upscaler(
                    model, dtype=args.dtype, tile=args.tile, tile_overlap=args.tile_overlap
                )
            upscale_file(src, dst, per_rank[id(model)], overwrite=True, **options)

        records = upscale_files(
            todo, upscaler.model, process, accelerator=args.accelerator, devices=args.devices
        )
        failed = [(r.src, r.error) for r in records if r.status == "failed"]
        print(
            f"{len(records) - len(failed)} written, {len(pairs) - len(todo)} skipped, {len(failed)} failed "
            f"({args.devices} processes)"
        )
    else:
        skip = None
        if args.only_pixelated:  # the CLI joins the detector to the folder run
            from srlib.detect.pipeline import clean_image_check

            skip = clean_image_check(max_pixels=args.max_pixels)
        report = upscale_folder(
            pairs,
            upscaler,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            skip=skip,
            **options,
        )
        failed = report.failed
        for src, reason in report.skipped:
            print(f"skipped {src}: {reason}")
        print(f"{args.input} -> {args.output}: {report.summary()}")
    for src, reason in failed:
        print(f"failed {src}: {reason}")
    if failed:
        raise ValueError(
            f"{len(failed)} of {len(pairs)} files could not be upscaled (listed above); "
            "the others were written."
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.upscale``)."""
    args = _parser().parse_args(argv)
    setup_cli_logging(logging.WARNING)
    return run_cli(lambda: _run(args), outputs=[args.output])


if __name__ == "__main__":
    sys.exit(main())
