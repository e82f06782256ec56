"""srlib's command lines: the only layer that combines packages (e.g. the detector with a folder run).

Each module is one command (``train``, ``evaluate``, ``upscale``, ``export``, ``detect``, ``serve``,
``data``), run as ``python -m srlib.NAME`` (one-line shims at the old places) or as the ``srlib-NAME``
console scripts.
"""
