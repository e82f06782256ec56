"""Training data: datasets, DataModules, caches, video pairs and the dataset catalogue.

Image and video file I/O lives in :mod:`srlib.io` (re-exported here for existing code). The names are
imported on first use, so ``import srlib.data.video.policy`` (what inference needs) loads no Lightning.
"""

from __future__ import annotations

from srlib._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("DatasetSpec", "get_dataset", "list_datasets"), "srlib.data.catalogue"),
    **dict.fromkeys(
        (
            "BundledPhotosDataModule",
            "DF2KDataModule",
            "DIV2KDataModule",
            "Flickr2KDataModule",
            "ImageFolderDataModule",
            "ImageFolderHRDataModule",
            "SRDataModule",
            "T91DataModule",
            "training_loader",
        ),
        "srlib.data.datamodules",
    ),
    **dict.fromkeys(
        (
            "BenchmarkDataset",
            "HRPatchDataset",
            "PairedImageDataset",
            "PairedPatchDataset",
            "match_pairs",
            "random_augment",
        ),
        "srlib.data.datasets",
    ),
    **dict.fromkeys(
        (
            "default_data_dir",
            "prepare_dataset",
            "resolve_dataset_dir",
            "resolve_dataset_dirs",
            "resolve_image_dir",
            "resolve_image_dirs",
        ),
        "srlib.data.download",
    ),
    **dict.fromkeys(
        ("ImageTooLargeError", "list_images", "max_image_pixels", "read_image", "scan_images", "write_image"),
        "srlib.io.images",
    ),
    **dict.fromkeys(("SubimageStore", "extract_subimages"), "srlib.data.subimages"),
    "FramePairPolicy": "srlib.data.video.policy",
    "FrameSampling": "srlib.data.video.sampling",
    "VideoFramePairDataset": "srlib.data.video.dataset",
    "VideoPairDataModule": "srlib.data.video.datamodule",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "BenchmarkDataset",
    "BundledPhotosDataModule",
    "DF2KDataModule",
    "DIV2KDataModule",
    "DatasetSpec",
    "Flickr2KDataModule",
    "FramePairPolicy",
    "FrameSampling",
    "HRPatchDataset",
    "ImageFolderDataModule",
    "ImageFolderHRDataModule",
    "ImageTooLargeError",
    "PairedImageDataset",
    "PairedPatchDataset",
    "SRDataModule",
    "SubimageStore",
    "T91DataModule",
    "VideoFramePairDataset",
    "VideoPairDataModule",
    "default_data_dir",
    "extract_subimages",
    "get_dataset",
    "list_datasets",
    "list_images",
    "match_pairs",
    "max_image_pixels",
    "prepare_dataset",
    "random_augment",
    "read_image",
    "resolve_dataset_dir",
    "resolve_dataset_dirs",
    "resolve_image_dir",
    "resolve_image_dirs",
    "scan_images",
    "training_loader",
    "write_image",
]
