"""Per-type precision and recall of PHI de-identification, and the share of protected medical values altered.

PYTHONPATH=src python benchmarks/deid_eval.py              # the held-out half (the figures in the README)
PYTHONPATH=src python benchmarks/deid_eval.py dev --misses # the half the detector was tuned on, with its misses
"""

from __future__ import annotations

import sys

from qilin.privacy.evaluate import EVAL_DIR, dump_misses, evaluate_file, format_scores

if __name__ == "__main__":
    split = next((a for a in sys.argv[1:] if not a.startswith("-")), "heldout")
    scores = evaluate_file(EVAL_DIR / f"{split}.jsonl")
    print(f"{split}: {scores['records']} records")
    print(format_scores(scores))
    if "--misses" in sys.argv:
        print(dump_misses(scores))
