"""``python -m srlib.serve --model NAME_OR_WEIGHTS``: serve a model over HTTP (see docs/serve.md)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from argparse import Namespace
from collections.abc import Sequence

from srlib._cli import ArgumentParser, run_cli
from srlib._logging import setup_cli_logging

__all__ = ["main"]

log = logging.getLogger("srlib.serve")

_MB = 1024 * 1024
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m srlib.serve",
        description="Serve an srlib model over HTTP: image upscaling with micro-batching, video jobs.",
    )
    model = p.add_argument_group("model")
    model.add_argument("--model", required=True, help="registered name, weight file or .onnx file")
    model.add_argument("--weights", help="weight file to load into a registered model")
    model.add_argument("--scale", type=int, default=None, help="the model's scale (default: its own)")
    model.add_argument(
        "--no-policy", action="store_true", help="ignore a FramePairPolicy stored with the weights"
    )
    run = p.add_argument_group("running")
    run.add_argument("--device", default=None, help="cpu (default), cuda, cuda:1, mps")
    run.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    run.add_argument("--tile", type=int, default=None, help="default tile size in input pixels")
    run.add_argument("--tile-overlap", type=int, default=16)
    run.add_argument(
        "--max-batch",
        type=int,
        default=None,
        help="most images/frames per model call (default: 8 on a GPU, 1 on a CPU, where batching was slower)",
    )
    run.add_argument(
        "--batch-window-ms", type=float, default=5.0, help="wait this long for same-size inputs (default 5)"
    )
    net = p.add_argument_group("network")
    net.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    net.add_argument("--port", type=int, default=8000)
    net.add_argument(
        "--workers", type=int, default=1, help="worker processes, each with its own model and queues"
    )
    net.add_argument(
        "--token",
        default=None,
        help="bearer token for every endpoint but /health (or $SRLIB_SERVE_TOKEN); required unless --no-auth",
    )
    net.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without a token (anyone who can reach the address may use the service)",
    )
    net.add_argument("--access-log", action="store_true", help="log every request")
    lim = p.add_argument_group("limits")
    lim.add_argument(
        "--max-queue", type=int, default=64, help="images waiting for the model before 503 (per worker)"
    )
    lim.add_argument("--max-upload-mb", type=float, default=32, help="largest image request body (MB)")
    lim.add_argument("--max-video-upload-mb", type=float, default=1024, help="largest video upload (MB)")
    lim.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="largest input image/frame (default $SRLIB_MAX_IMAGE_PIXELS or 100 MP)",
    )
    lim.add_argument(
        "--max-output-pixels",
        type=int,
        default=16_777_216,
        help="largest output image/frame, checked before any work (default 16 MP = 4096x4096)",
    )
    lim.add_argument("--max-video-seconds", type=float, default=600, help="longest video a job takes")
    lim.add_argument(
        "--timeout", type=float, default=120, help="seconds an image request may take before 503"
    )
    lim.add_argument(
        "--upload-timeout", type=float, default=300, help="seconds to receive a request body (408)"
    )
    lim.add_argument(
        "--upload-idle-timeout",
        type=float,
        default=30,
        help="seconds a request body may send nothing before 408 (default 30)",
    )
    lim.add_argument(
        "--max-uploads",
        type=int,
        default=8,
        help="video uploads received at once before 503 (per worker; they hold no job slot)",
    )
    jobs = p.add_argument_group("video jobs")
    jobs.add_argument(
        "--max-jobs", type=int, default=4, help="jobs queued or running before 503 (per worker)"
    )
    jobs.add_argument("--job-workers", type=int, default=1, help="jobs running at once (per worker)")
    jobs.add_argument("--job-batch-size", type=int, default=4, help="video frames per model call")
    jobs.add_argument("--job-ttl", type=float, default=3600, help="seconds a result (or a failure) is kept")
    jobs.add_argument(
        "--work-dir",
        default=None,
        help="folder for uploads and job files, locked while the server runs (default: a temporary one)",
    )
    return p


def _config(args: Namespace, work_dir: str | None, token_required: bool):
    from srlib.serve.config import ServeConfig

    for name in (
        "workers",
        "max_batch",
        "max_queue",
        "max_jobs",
        "job_workers",
        "job_batch_size",
        "max_uploads",
        "max_output_pixels",
    ):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}.")
    for name in (
        "max_upload_mb",
        "max_video_upload_mb",
        "max_video_seconds",
        "timeout",
        "upload_timeout",
        "upload_idle_timeout",
        "job_ttl",
    ):
        if not getattr(args, name) > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}.")
    if args.batch_window_ms < 0:
        raise ValueError(f"--batch-window-ms must be 0 or more, got {args.batch_window_ms}.")
    return ServeConfig(
        model=args.model,
        weights=args.weights,
        scale=args.scale,
        device=args.device,
        dtype=args.dtype,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        no_policy=args.no_policy,
        max_batch=args.max_batch,
        batch_window_ms=args.batch_window_ms,
        max_queue=args.max_queue,
        max_upload_bytes=int(args.max_upload_mb * _MB),
        max_video_upload_bytes=int(args.max_video_upload_mb * _MB),
        max_pixels=args.max_pixels,
        max_output_pixels=args.max_output_pixels,
        max_video_seconds=args.max_video_seconds,
        request_timeout_s=args.timeout,
        upload_timeout_s=args.upload_timeout,
        upload_idle_timeout_s=args.upload_idle_timeout,
        max_uploads=args.max_uploads,
        max_jobs=args.max_jobs,
        job_workers=args.job_workers,
        job_batch_size=args.job_batch_size,
        job_ttl_s=args.job_ttl,
        work_dir=work_dir,
        token_required=token_required,
    )


class _StoppedError(Exception):
    """SIGINT or SIGTERM: uvicorn has shut down gracefully and re-raised the signal to us."""


def _stop(signum: int, frame: object) -> None:
    raise _StoppedError(signum)


def _hang_up(signum: int, frame: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # a closed terminal: the same graceful shutdown as SIGTERM


def _token(args: Namespace) -> str | None:
    """The bearer token (``None`` only with ``--no-auth``); a missing, empty or blank one is refused."""
    from srlib.serve.config import TOKEN_ENV, check_token

    from_env = os.environ.get(TOKEN_ENV)
    if args.no_auth:
        if args.token is not None:
            raise ValueError("--token and --no-auth contradict each other; give one of them.")
        if from_env is not None:
            raise ValueError(
                f"${TOKEN_ENV} is set but --no-auth is given; unset ${TOKEN_ENV}, or drop --no-auth."
            )
        return None
    if args.token is not None:
        return check_token(args.token, "--token")
    return check_token(from_env, f"${TOKEN_ENV}")


def _serve(args: Namespace) -> int:
    try:
        import uvicorn

        from srlib.serve.app import create_app
        from srlib.serve.config import CONFIG_ENV, TOKEN_ENV
        from srlib.serve.model import load_network
    except ImportError as err:
        raise ImportError(f'{err}; the service needs its extra: pip install "srlib[serve]"') from err
    from srlib.inference.engine import Upscaler
    from srlib.serve.workdir import WorkDir

    token = _token(args)
    config = _config(args, None, token is not None)  # every option checked before anything is made
    if args.host not in _LOOPBACK and token is None:
        log.warning(
            "binding %s with --no-auth: anyone who can reach this address may use the service", args.host
        )
    work = WorkDir.open(args.work_dir)  # locked for the server's life; an earlier run's leftovers swept
    # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown: end here, so the work folder is cleaned.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    if hasattr(signal, "SIGHUP"):
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _hang_up)
    try:
        config.work_dir, config.work_dir_locked = str(work.root), True
        net = load_network(config).net  # fail here, once, in one line: not in every worker
        Upscaler(
            net, device=config.device, dtype=config.dtype, tile=config.tile, tile_overlap=config.tile_overlap
        )
        options = {
            "host": args.host,
            "port": args.port,
            "access_log": args.access_log,
            "log_level": "info",
            "timeout_graceful_shutdown": 10,
        }
        if args.workers == 1:
            app = create_app(config, token=token, no_auth=token is None, net=net, work=work)
            uvicorn.run(app, **options)
        else:
            del net
            os.environ[CONFIG_ENV] = config.to_env()
            os.environ["SRLIB_SERVE_WORKERS"] = str(args.workers)
            if token is not None:
                os.environ[TOKEN_ENV] = token
            uvicorn.run("srlib.serve.app:app_from_env", factory=True, workers=args.workers, **options)
    except _StoppedError:
        log.info("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        work.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.serve``)."""
    args = _parser().parse_args(argv)
    setup_cli_logging(logging.INFO)
    return run_cli(lambda: _serve(args))


if __name__ == "__main__":
    sys.exit(main())
