"""Per-type precision and recall of PHI de-identification, medical strings altered and persons kept apart.

PYTHONPATH=src python benchmarks/deid_eval.py              # the generated held-out half (docs/safety-and-privacy.md)
PYTHONPATH=src python benchmarks/deid_eval.py dev --misses # the half the detector was tuned on, with its misses
PYTHONPATH=src python benchmarks/deid_eval.py notes        # the hand-written notes of benchmarks/heldout/deid
PYTHONPATH=src python benchmarks/deid_eval.py notes2       # the second hand-written set, benchmarks/heldout/deid2
PYTHONPATH=src python benchmarks/deid_eval.py notes3       # the third hand-written set, benchmarks/heldout/deid3
PYTHONPATH=src python benchmarks/deid_eval.py notes4       # the fourth hand-written set, benchmarks/heldout/deid4
PYTHONPATH=src python benchmarks/deid_eval.py notes5       # the fifth hand-written set, benchmarks/heldout/deid5
PYTHONPATH=src python benchmarks/deid_eval.py notes6       # the sixth hand-written set, benchmarks/heldout/deid6
"""

from __future__ import annotations

import sys
from pathlib import Path

from qilin.privacy.evaluate import EVAL_DIR, dump_misses, evaluate_file, format_scores, read_medical_strings

HELDOUT = Path(__file__).resolve().parent / "heldout"
# the hand-written sets, scored the same way
NOTES_DIRS = {
    "notes": HELDOUT / "deid",
    "notes2": HELDOUT / "deid2",
    "notes3": HELDOUT / "deid3",
    "notes4": HELDOUT / "deid4",
    "notes5": HELDOUT / "deid5",
    "notes6": HELDOUT / "deid6",
}

if __name__ == "__main__":
    split = next((a for a in sys.argv[1:] if not a.startswith("-")), "heldout")
    if split in NOTES_DIRS:
        notes_dir = NOTES_DIRS[split]
        scores = evaluate_file(notes_dir / "notes.jsonl", read_medical_strings(notes_dir / "medical_strings.txt"))
    else:
        scores = evaluate_file(EVAL_DIR / f"{split}.jsonl")
    print(f"{split}: {scores['records']} records")
    print(format_scores(scores))
    if "--misses" in sys.argv:
        print(dump_misses(scores))
