"""``python -m srlib.worker --queue URL``: run queued video jobs (srlib.serve.queue; docs/serve.md).

Takes tasks from the queue at URL (``sqlite:///PATH/queue.db`` on one machine, ``redis://HOST:PORT/DB``
on many) until stopped with Ctrl-C or SIGTERM (the task in hand is finished first), or with
``--exit-when-idle S`` once no job has been unfinished for S seconds. Every worker also watches for jobs
whose worker died (no heartbeat for ``--lease`` seconds, no task queued) and re-queues them.
``--status JOB`` prints a job's state and its progress by segment as JSON and exits.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from argparse import Namespace
from collections.abc import Sequence

from srlib._cli import ArgumentParser, run_cli
from srlib._logging import setup_cli_logging

__all__ = ["main"]

log = logging.getLogger("srlib.worker")


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m srlib.worker", description=__doc__.split("\n")[0])
    p.add_argument("--queue", required=True, help="sqlite:///PATH/queue.db or redis://HOST:PORT/DB")
    p.add_argument("--workers", type=int, default=1, help="tasks run at once in this process (threads)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads per task: torch, decoder, encoder (default: all cores)",
    )
    p.add_argument(
        "--lease", type=float, default=None, help="seconds without a heartbeat before a job is re-queued (60)"
    )
    p.add_argument(
        "--exit-when-idle", type=float, default=None, metavar="S", help="stop after S idle seconds"
    )
    p.add_argument("--status", metavar="JOB", help="print a job's status as JSON and exit")
    return p


def _watch(queue, lease: float, idle_exit: float | None, stop: threading.Event) -> None:
    """Re-queue jobs whose worker died; stop the process once idle for ``idle_exit`` seconds."""
    from srlib.serve.queue import recover_jobs, unfinished_jobs

    idle_since = time.monotonic()
    while not stop.wait(min(lease / 4, 1.0)):
        try:
            recover_jobs(queue, lease)
            busy = bool(unfinished_jobs(queue)) or queue.huey.pending_count() > 0
        except Exception as err:  # the store is away: tasks wait in it, and so does this
            log.warning("the queue at %s does not answer (%s); retrying", queue.url, err)
            busy = True
        if busy:
            idle_since = time.monotonic()
        elif idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
            log.info("idle for %.0f s: stopping", idle_exit)
            os.kill(os.getpid(), signal.SIGINT)  # the consumer's graceful stop
            return


def _run(args: Namespace) -> int:
    from srlib.serve.queue import LEASE_S, job_status, open_queue, set_worker_threads

    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}.")
    queue = open_queue(args.queue)
    if args.status is not None:
        status = job_status(queue, args.status)
        if status is None:
            shown = (
                args.status if len(args.status) <= 64 else f"{args.status[:64]}... ({len(args.status)} chars)"
            )
            raise ValueError(f"No job {shown!r} in the queue at {args.queue}.")
        print(json.dumps(status, indent=2))
        return 0
    if args.threads:
        set_worker_threads(args.threads)
    lease = LEASE_S if args.lease is None else args.lease
    if lease <= 0:
        raise ValueError(f"--lease must be positive, got {lease}.")
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(queue, lease, args.exit_when_idle, stop), name="srlib-worker-watch", daemon=True
    )
    watcher.start()
    consumer = queue.huey.create_consumer(workers=args.workers, worker_type="thread", periodic=False)
    log.info("worker %d on %s (%d task(s) at once)", os.getpid(), args.queue, args.workers)
    try:
        consumer.run()
    finally:
        stop.set()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.worker``)."""
    args = _parser().parse_args(argv)
    setup_cli_logging(logging.INFO)
    return run_cli(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
