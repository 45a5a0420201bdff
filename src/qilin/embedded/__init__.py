"""The miniature world of the embedded default, behind the `embedded:` resolver: nothing is downloaded.

parts.py         'embedded:PART' -> a file of the bundled world, built on first use
chimed.py        the miniature ChiMed (the ChiMed builder on the bundled knowledge base)
general.py       the general corpus and exam (the forgetting check), from a bundled fact table
scans.py         synthetic scans in four modalities, their captions and VQA
vl_data.py       the embedded ChiMed-VL: scans for the demo ViT, caption pairs, VQA conversations and test
model.py         the BPE tokenizer trained on the recipe's texts and the tiny Llama
general_base.py  general pre-training of the tiny Llama (a CPT run, cached across run directories)
vit.py           contrastive pre-training of the demo's tiny ViT
base.py          the embedded base and the demo ViT as the pipeline asks for them (fingerprints, metrics)
"""

from qilin.embedded.base import base_fingerprint, build_base, build_demo_vit, demo_vit_fingerprint
from qilin.embedded.model import build_embedded_model, train_tokenizer
from qilin.embedded.parts import EMBEDDED_PREFIX, PART_NAMES, embedded_part, is_embedded
from qilin.embedded.scans import generate_scan_set

__all__ = [
    "EMBEDDED_PREFIX",
    "PART_NAMES",
    "base_fingerprint",
    "build_base",
    "build_demo_vit",
    "build_embedded_model",
    "demo_vit_fingerprint",
    "embedded_part",
    "generate_scan_set",
    "is_embedded",
    "train_tokenizer",
]
