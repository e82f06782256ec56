"""Datasets, DataModules, the dataset catalogue and image/video I/O."""

from srlib.data.datamodules import (
    BundledPhotosDataModule,
    ImageFolderHRDataModule,
    SRDataModule,
    T91DataModule,
)
from srlib.data.catalogue import DatasetSpec, get_dataset, list_datasets
from srlib.data.datasets import BenchmarkDataset, HRPatchDataset
from srlib.data.download import default_data_dir, prepare_dataset, resolve_dataset_dir, resolve_dataset_dirs
from srlib.data.image_io import list_images, read_image, scan_images, write_image
from srlib.data.video import FramePairPolicy, FrameSampling, VideoFramePairDataset, VideoPairDataModule

__all__ = [
    "BenchmarkDataset",
    "BundledPhotosDataModule",
    "DatasetSpec",
    "FramePairPolicy",
    "FrameSampling",
    "HRPatchDataset",
    "ImageFolderHRDataModule",
    "SRDataModule",
    "T91DataModule",
    "VideoFramePairDataset",
    "VideoPairDataModule",
    "default_data_dir",
    "get_dataset",
    "list_datasets",
    "list_images",
    "prepare_dataset",
    "read_image",
    "resolve_dataset_dir",
    "resolve_dataset_dirs",
    "scan_images",
    "write_image",
]
