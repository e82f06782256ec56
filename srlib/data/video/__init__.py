"""Paired low/high-resolution video frames (e.g. 144p/480p encodes of the same clips).

Layout: ``root/lr/NAME.mp4`` and ``root/hr/NAME.mp4`` are two encodes of the same clip ``NAME`` (any
container and codec PyAV reads; the suffixes may differ). The pipeline, run once when the dataset is
set up:

1. **Match clips by name.** Names found in only one of the folders are listed together in one error
   (or skipped with a warning when ``strict=False``).
2. **Scan headers** of every clip not yet cached (open, find the video stream, read the frame sizes)
   and check the size ratio against the :class:`FramePairPolicy`; every bad file and every bad ratio
   is reported in one error before any long decoding starts.
3. **Sample by timestamp.** Every ``every_n``-th HR frame (default 250, as in the Rutube setup) gives a
   target time; for each target the LR frame whose presentation time is nearest is taken, so the pairs
   correspond even when the two encodes have different frame rates or frame counts. Times are measured
   from each clip's first frame (``align_start=True``). A pair whose LR frame is more than
   ``max_time_offset`` LR frame periods (default half a period) from its target is dropped; clips whose
   frame counts or durations differ by more than ``mismatch_tolerance`` (relative), truncated files and
   dropped pairs are logged as warnings and recorded in the per-clip :class:`ClipReport`.
4. **Apply the size policy** (:class:`FramePairPolicy`) so every pair is exactly ``scale`` apart.
5. **Cache** the pairs as ``(3, H, W)`` uint8 ``.npy`` files, one folder per clip, filled under a
   hidden temporary name with the ``manifest.json`` written last and then renamed into place
   (:class:`srlib._cache.HashedCache`). The folder name carries a hash of the source files' names,
   sizes and mtimes, the sampling settings and the policy, so a changed source (or setting)
   invalidates exactly that clip, and later epochs and runs never decode video.

Why ``.npy`` and not PNG: training reads random crops from these frames every step. An uncompressed
uint8 ``.npy`` has a fixed layout, so only the rows of the crop are read (a 96-pixel crop of a 480p
frame costs tens of microseconds, a whole frame well under a millisecond), while a PNG must be
inflated whole for every crop (milliseconds at 480p). The arrays are stored channels-first, as the
items are returned (transposing a 480p uint8 frame costs milliseconds with torch). The price is disk
space (~1.2 MB per 854x480 frame), small next to the decoding it saves.

The frames are converted to RGB by FFmpeg's default YUV->RGB conversion (the same for LR and HR);
rotation metadata is not applied.
"""

from __future__ import annotations

from srlib._lazy import lazy_exports

_EXPORTS = {
    "CachedClip": "srlib.data.video.cache",
    "VideoPairDataModule": "srlib.data.video.datamodule",
    **dict.fromkeys(
        ("VideoFramePairDataset", "cache_frame_pairs", "find_clip_pairs"), "srlib.data.video.dataset"
    ),
    "VIDEO_EXTENSIONS": "srlib.io.video",
    **dict.fromkeys(("FILTERS", "SIZE_POLICIES", "FramePairPolicy"), "srlib.data.video.policy"),
    **dict.fromkeys(
        ("ClipReport", "FramePair", "FrameSampling", "sample_frame_pairs"), "srlib.data.video.sampling"
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "FILTERS",
    "SIZE_POLICIES",
    "VIDEO_EXTENSIONS",
    "CachedClip",
    "ClipReport",
    "FramePair",
    "FramePairPolicy",
    "FrameSampling",
    "VideoFramePairDataset",
    "VideoPairDataModule",
    "cache_frame_pairs",
    "find_clip_pairs",
    "sample_frame_pairs",
]
