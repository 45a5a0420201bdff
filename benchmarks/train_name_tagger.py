"""Train the name tagger (`qilin.privacy.tagger`) on the hand-labelled development notes and write its weights.

PYTHONPATH=src python benchmarks/train_name_tagger.py                 # writes src/qilin/resources/deid/name_tagger.npz
PYTHONPATH=src python benchmarks/train_name_tagger.py --out my.npz    # elsewhere
PYTHONPATH=src python benchmarks/train_name_tagger.py --notes ours.jsonl   # and a hospital's own labelled notes

Development notes: the hand-written sets under benchmarks/heldout/ that have been read for misses (DEVELOPMENT_SETS)
and the notes and generated records under src/qilin/resources/deid/. A set still held out is never trained on.
Leave-one-set-out figures: benchmarks/name_tagger_cv.py.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from qilin.privacy.tagger import WEIGHTS
from qilin.privacy.tagger.training import labelled_texts, save_tagger, train_tagger

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "src/qilin/resources/deid"
HELDOUT = ROOT / "benchmarks/heldout"
# name -> files; each a set written apart and since read for misses (development data)
DEVELOPMENT_SETS = {
    "deid": [HELDOUT / "deid/notes.jsonl", RESOURCES / "dev_notes.jsonl", RESOURCES / "dev_notes2.jsonl"],
    "deid2": [HELDOUT / "deid2/notes.jsonl"],
    "deid3": [HELDOUT / "deid3/notes.jsonl"],
    "deid4": [HELDOUT / "deid4/notes.jsonl"],
    "deid5": [HELDOUT / "deid5/notes.jsonl"],
}
GENERATED = [RESOURCES / "dev.jsonl"]  # the generator's development half (its held-out half stays out)
log = logging.getLogger("train_name_tagger")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="weights file (default: the one detection loads)")
    parser.add_argument("--notes", type=Path, nargs="*", default=[], help="more labelled notes (deid_eval's format)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = labelled_texts([p for paths in DEVELOPMENT_SETS.values() for p in paths] + GENERATED + args.notes)
    tagger = train_tagger(rows)
    save_tagger(tagger, args.out)
    chars = sum(len(t) for t, _ in rows)
    size = args.out.stat().st_size
    log.info("trained on %d texts (%d characters) -> %s (%d bytes)", len(rows), chars, args.out, size)
