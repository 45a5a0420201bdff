"""Cross-validated agreement of the offline safety judges on the development replies: folds grouped by prompt (a
prompt's replies never sit in both training and test) or by source file (each file tested by a classifier trained
on the others: replies written by other hands); per-class precision and recall averaged over folds, the confusion
matrix summed over folds and each file's test replies apart, for the rules (which learn nothing) and the
classifier (trained on the other folds).

PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/safety_judge_cv.py                       # both judges, ~2 min
PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/safety_judge_cv.py --only replies_chat4_labelled.jsonl
PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/safety_judge_cv.py --group source        # leave one file out
PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/safety_judge_cv.py --judge classifier --l2 1e-2 --prior 1 --seed 1

The development replies are replies_labelled.jsonl (428), judge_labelled.jsonl (217), replies_chat_labelled.jsonl
(452), replies_chat2_labelled.jsonl (440), replies_chat3_labelled.jsonl (440) and replies_chat4_labelled.jsonl (440);
`--only FILE` scores the test folds on that file's replies only (trained on all six). The rules were last changed
reading all six, so their figures are training figures; the classifier's are cross-validated ones (its settings were
picked on these folds too). With `--group source` the fold whose test file is replies_chat4_labelled.jsonl (the
newest writers: deployed assistants and red-team manners) is the estimate of a new writer: trained on the other five
files.
"""

from __future__ import annotations

import argparse

from qilin.eval.safety import training
from qilin.eval.safety.agreement import DEVELOPMENT_FILES, confusion, format_confusion
from qilin.eval.safety.judge import LABELS

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", choices=("both", "rules", "classifier"), default="both")
    parser.add_argument("--folds", type=int, default=training.FOLDS)
    parser.add_argument("--seed", type=int, default=0, help="shuffles the prompts before they are dealt to folds")
    parser.add_argument("--l2", type=float, default=training.L2)
    parser.add_argument("--ngram-scale", type=float, default=training.NGRAM_SCALE)
    parser.add_argument("--prior", type=float, default=training.PRIOR, help="fixed score of the rules' verdict")
    parser.add_argument(
        "--group", choices=("prompt_id", "source"), default="prompt_id", help="folds by prompt, or one per file"
    )
    parser.add_argument("--only", choices=[p.name for p in DEVELOPMENT_FILES], help="test on this file's rows only")
    args = parser.parse_args()
    rows = training.development_replies()
    keep = (lambda r: r["source"] == args.only) if args.only else None
    fits = {
        "rules": training.rules_fit,
        "classifier": lambda train: training.classifier_fit(
            train, l2=args.l2, ngram_scale=args.ngram_scale, prior=args.prior
        ),
    }
    how = f"{args.folds} folds grouped by prompt" if args.group == "prompt_id" else "one fold per source file"
    for name, fit in fits.items():
        if args.judge not in ("both", name):
            continue
        result = training.cross_validate(rows, fit, args.folds, args.seed, keep, args.group)
        print(f"{name}: cross-validation, {how}, {sum(map(sum, result['matrix']))} test replies; summed over folds:")
        print(format_confusion(result["matrix"]))
        print(
            "mean over folds  "
            + "  ".join(f"{c} P {result['mean'][c][0]:.3f} R {result['mean'][c][1]:.3f}" for c in LABELS)
        )
        for source in [p.name for p in DEVELOPMENT_FILES]:
            tested = [(r["label"], p) for r, p in zip(rows, result["predicted"], strict=True) if r["source"] == source]
            if tested:
                print(f"of which {source}:")
                print(format_confusion(confusion([g for g, _ in tested], [p for _, p in tested])))
