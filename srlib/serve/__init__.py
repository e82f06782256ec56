"""The upscaling service: ``python -m srlib.serve --model NAME_OR_WEIGHTS`` (extra ``srlib[serve]``).

FastAPI + uvicorn, with srlib's own micro-batcher in front of the model (see docs/serve.md):

* :mod:`srlib.serve.batcher`: one model thread, inputs of the same size run together;
* :mod:`srlib.serve.model`: the model loaded once per worker process, as an Upscaler;
* :mod:`srlib.serve.images`: request parameters, image decoding (header size check first), encoding;
* :mod:`srlib.serve.jobs`: video jobs (bounded queue, progress, cancellation, clean files);
* :mod:`srlib.serve.workdir`: the work folder (lock, files tagged as ours, the one place that writes);
* :mod:`srlib.serve.app`: the FastAPI app (endpoints, token, limits, JSON errors, 507 for a full disk).
"""

from __future__ import annotations

from srlib.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str):
    if name == "create_app":  # FastAPI is imported only when the app is wanted
        try:
            from srlib.serve.app import create_app
        except ImportError as err:
            raise ImportError(f'{err}; the service needs its extra: pip install "srlib[serve]"') from err
        return create_app
    raise AttributeError(f"module 'srlib.serve' has no attribute {name!r}")
