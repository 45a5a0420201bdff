"""What the name tagger adds to the rules on text it was not trained on: leave one hand-written set out.

PYTHONPATH=src python benchmarks/name_tagger_cv.py                  # each development set left out in turn
PYTHONPATH=src python benchmarks/name_tagger_cv.py --test deid5     # a held-out set: trained on all development sets

For each left-out set the tagger is trained on the other development sets (and the generated records) and the
detector is scored on the left-out set twice, rules alone and rules with that tagger: names recall, identifiers
and contacts recall, precision, medical strings altered, person violations (`benchmarks/deid_eval.py`'s figures).
The rules themselves were revised after reading the development sets' misses, so on a development set the rules'
column is a training figure and only the difference the tagger makes is measured apart; on a held-out set both are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_name_tagger import DEVELOPMENT_SETS, GENERATED, HELDOUT

from qilin.privacy.evaluate import evaluate_records, read_labelled, read_medical_strings
from qilin.privacy.tagger import using_tagger
from qilin.privacy.tagger.training import labelled_texts, train_tagger

FIGURES = ("names_recall", "identifiers_recall", "precision", "medical_altered")


def score(paths: list[Path], medical: list[str], tagger: object) -> dict:
    rows = [r for p in paths for r in read_labelled(p)]
    with using_tagger(tagger):
        s = evaluate_records(rows, medical)
    return {**{k: s[k] for k in FIGURES}, "person_violations": len(s["person_violations"]), "records": s["records"]}


def line(name: str, how: str, s: dict) -> str:
    return (f"| {name} | {how} | {s['names_recall']:.3f} | {s['identifiers_recall']:.3f} | {s['precision']:.3f} "
            f"| {s['medical_altered']} | {s['person_violations']} |")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test", help="a held-out set under benchmarks/heldout/ (e.g. deid5): score it once")
    args = parser.parse_args()
    folds = {args.test: [HELDOUT / args.test / "notes.jsonl"]} if args.test else DEVELOPMENT_SETS
    print("| left out | detector | names | ids+contacts | precision | medical altered | person violations |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, paths in folds.items():
        train = [p for other, ps in DEVELOPMENT_SETS.items() if other != name for p in ps] + GENERATED
        tagger = train_tagger(labelled_texts(train))
        medical_file = HELDOUT / name / "medical_strings.txt"
        medical = read_medical_strings(medical_file) if medical_file.is_file() else []
        print(line(name, "rules", score(paths, medical, None)), flush=True)
        print(line(name, "rules + tagger", score(paths, medical, tagger)), flush=True)
