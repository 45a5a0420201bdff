"""The old home of the VL readers and datasets, kept only until its importers move; then delete this file.

Readers now live in `qilin.data.vision.formats`, tokenized examples and collators in `qilin.data.vision.dataset`.
The names below are the ones still imported from here (by cli/main.py, pipeline/runner.py, stages/vl_align.py,
stages/vl_instruct.py and tests/test_translate.py).
"""

from qilin.data.vision.dataset import PackedVLDataset, build_vl_dataset, collate_packed_vl, collate_vl
from qilin.data.vision.formats import check_images, read_pmcvqa, read_vl_file

__all__ = [
    "PackedVLDataset",
    "build_vl_dataset",
    "check_images",
    "collate_packed_vl",
    "collate_vl",
    "read_pmcvqa",
    "read_vl_file",
]
