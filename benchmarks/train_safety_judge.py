"""Retrain the safety classifier from the labelled replies and write its weights (by default over the shipped
src/qilin/resources/safety/judge_classifier.npz; the same data and code give the same predictions).

PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/train_safety_judge.py                 # ~15 s on one core
PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/train_safety_judge.py --out /tmp/judge.npz --extra mine.jsonl

Trains on the 2,417 development replies (replies_labelled.jsonl, judge_labelled.jsonl, replies_chat_labelled.jsonl,
replies_chat2_labelled.jsonl, replies_chat3_labelled.jsonl and replies_chat4_labelled.jsonl; and --extra files of the
same fields) with the settings
in qilin.eval.safety.training; retrain after changing the rules, whose verdicts and cues are features.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from qilin.eval.safety import training
from qilin.eval.safety.agreement import format_confusion, labelled_replies, score_judge
from qilin.eval.safety.classifier import WEIGHTS

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(WEIGHTS), help="where to write the weights (default: the shipped file)")
    parser.add_argument("--extra", nargs="*", default=[], help="more labelled files to train on")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = training.development_replies() + [r for path in args.extra for r in labelled_replies(path=path)]
    judge = training.train_classifier(rows)
    judge.save(Path(args.out))
    labeller = lambda batch: [judge.judge(r["prompt"], r["response"], r["harmful"]) for r in batch]  # noqa: E731
    logging.info(f"wrote {args.out}; trained on {len(rows)} replies; agreement on them (training figure):")
    logging.info(format_confusion(score_judge(rows, labeller)))
