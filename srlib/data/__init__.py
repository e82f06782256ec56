"""Datasets, DataModules, the dataset catalogue and image/video I/O."""

from srlib.data.catalogue import DatasetSpec, get_dataset, list_datasets
from srlib.data.datamodules import (
    BundledPhotosDataModule,
    DF2KDataModule,
    DIV2KDataModule,
    Flickr2KDataModule,
    ImageFolderDataModule,
    ImageFolderHRDataModule,
    SRDataModule,
    T91DataModule,
)
from srlib.data.datasets import (
    BenchmarkDataset,
    HRPatchDataset,
    PairedImageDataset,
    PairedPatchDataset,
    match_pairs,
    random_augment,
)
from srlib.data.download import (
    default_data_dir,
    prepare_dataset,
    resolve_dataset_dir,
    resolve_dataset_dirs,
    resolve_image_dir,
    resolve_image_dirs,
)
from srlib.data.image_io import (
    ImageTooLargeError,
    list_images,
    max_image_pixels,
    read_image,
    scan_images,
    write_image,
)
from srlib.data.subimages import SubimageStore, extract_subimages
from srlib.data.video import FramePairPolicy, FrameSampling, VideoFramePairDataset, VideoPairDataModule

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
    "write_image",
]
