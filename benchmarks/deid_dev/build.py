"""Write the hand-written development notes (notes.txt, marked up) as a labelled set the scorer reads.

PYTHONPATH=src python benchmarks/deid_dev/build.py     # -> src/qilin/resources/deid/dev_notes.jsonl, dev_notes2.jsonl

notes.txt (first round) and notes2.txt (second round, written before the rules of that round) hold notes separated
by lines of '---'; {type:value} marks a PHI span ({name#P1:value} also names the person), <<value>> a medical
string that must survive. These are the notes the detector was tuned on; they are no measure of how it does on
other notes.
"""

from __future__ import annotations

import json
from pathlib import Path

from qilin.durable import write_atomic
from qilin.privacy.evaluate import EVAL_DIR, parse_marked

HERE = Path(__file__).resolve().parent
SOURCES = {"notes.txt": ("dev_notes.jsonl", "dev-note"), "notes2.txt": ("dev_notes2.jsonl", "dev2-note")}

if __name__ == "__main__":
    for source, (target, prefix) in SOURCES.items():
        notes = [n.strip("\n") for n in (HERE / source).read_text(encoding="utf-8").split("\n---\n") if n.strip()]
        rows = [parse_marked(note, f"{prefix}-{i + 1:03d}") for i, note in enumerate(notes)]
        write_atomic(EVAL_DIR / target, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(
            f"{target}: {len(rows)} notes, {sum(len(r['spans']) for r in rows)} PHI spans, "
            f"{sum(len(r['protected']) for r in rows)} protected strings"
        )
