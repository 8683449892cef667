"""Datasets: official sources and offline archives, the mini world's splits, seeded subsets, the decode cache.

``load_split(dataset, split, root=None, size=None)`` returns an ``ImageSet`` (uint8 images, int64 labels,
class names, stable ids; captions and domains for the pool). ``resize(images, size)`` is the one bicubic
resize. GPU-resident training batches: ``repro.data.gpu.GpuBatches``. The datasets, their splits and
sources: ``repro.data.registry`` (``repro data list``); your own data (a folder of class subfolders or an .npz,
named by its path wherever a dataset name goes): ``repro.data.own``.
"""

from .images import resize
from .imageset import ImageSet, requested
from .load import load_split
from .registry import DATASETS, MINI_WORLD_SPLITS, POOL_CLASSES, dataset_spec

__all__ = [
    "DATASETS",
    "ImageSet",
    "MINI_WORLD_SPLITS",
    "POOL_CLASSES",
    "dataset_spec",
    "load_split",
    "requested",
    "resize",
]
