"""Write the hand-written development notes (notes.txt, marked up) as a labelled set the scorer reads.

PYTHONPATH=src python benchmarks/deid_dev/build.py     # -> src/qilin/resources/deid/dev_notes.jsonl

notes.txt holds notes separated by lines of '---'; {type:value} marks a PHI span, <<value>> a medical string that
must survive. These are the notes the detector was tuned on; they are no measure of how it does on other notes.
"""

from __future__ import annotations

import json
from pathlib import Path

from qilin.durable import write_atomic
from qilin.privacy.evaluate import EVAL_DIR, parse_marked

SOURCE = Path(__file__).resolve().parent / "notes.txt"

if __name__ == "__main__":
    notes = [n.strip("\n") for n in SOURCE.read_text(encoding="utf-8").split("\n---\n") if n.strip()]
    rows = [parse_marked(note, f"dev-note-{i + 1:03d}") for i, note in enumerate(notes)]
    write_atomic(EVAL_DIR / "dev_notes.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(
        f"{len(rows)} notes, {sum(len(r['spans']) for r in rows)} PHI spans, "
        f"{sum(len(r['protected']) for r in rows)} protected strings"
    )
