"""The ChiMed builder (`qilin data build`): a medical knowledge base and a user's own texts -> CPT, SFT and DPO
data, a CMExam-format exam and a Huatuo-format QA test, filtered, deduplicated and checked for leakage.

build.py      build_chimed: the parts and tests, written atomically with a build report
text.py       the phrase templates and the generators of each part (training and test wording never shared)
knowledge.py  the knowledge base: the bundled one, a user's JSON in its schema, or a user's triples
dedup.py      length and language filters, exact and near-duplicate removal, the leakage check
"""

from qilin.chimed.build import build_chimed
from qilin.chimed.dedup import filter_documents, find_leaks
from qilin.chimed.knowledge import RELATIONS, Disease, bundled_kb_path, kb_from_triples, load_kb

__all__ = [
    "RELATIONS",
    "Disease",
    "build_chimed",
    "bundled_kb_path",
    "filter_documents",
    "find_leaks",
    "kb_from_triples",
    "load_kb",
]
