"""Cross-validated agreement of the offline safety judges on the development replies: 5 folds grouped by prompt
(a prompt's replies never sit in both training and test), per-class precision and recall averaged over folds, the
confusion matrix summed over folds, for the rules (which learn nothing) and the classifier (trained on 4 folds).

PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/safety_judge_cv.py            # both judges, ~1 min
PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/safety_judge_cv.py --judge classifier --l2 1e-3 --prior 0 --seed 1

The development replies are replies_labelled.jsonl (428) and judge_labelled.jsonl (217); `--only-replies` scores
the test folds on the 428 only (trained on both). The rules were written reading all of them, so their figure is
a training figure; the classifier's is a cross-validated one (its settings were picked on these folds too).
"""

from __future__ import annotations

import argparse

from qilin.eval.safety import training
from qilin.eval.safety.agreement import format_confusion
from qilin.eval.safety.judge import LABELS

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", choices=("both", "rules", "classifier"), default="both")
    parser.add_argument("--folds", type=int, default=training.FOLDS)
    parser.add_argument("--seed", type=int, default=0, help="shuffles the prompts before they are dealt to folds")
    parser.add_argument("--l2", type=float, default=training.L2)
    parser.add_argument("--ngram-scale", type=float, default=training.NGRAM_SCALE)
    parser.add_argument("--prior", type=float, default=training.PRIOR, help="fixed score of the rules' verdict")
    parser.add_argument("--only-replies", action="store_true", help="test on replies_labelled.jsonl rows only")
    args = parser.parse_args()
    rows = training.development_replies()
    keep = (lambda r: r["source"] == "replies_labelled.jsonl") if args.only_replies else None
    fits = {
        "rules": training.rules_fit,
        "classifier": lambda train: training.classifier_fit(
            train, l2=args.l2, ngram_scale=args.ngram_scale, prior=args.prior
        ),
    }
    for name, fit in fits.items():
        if args.judge not in ("both", name):
            continue
        result = training.cross_validate(rows, fit, args.folds, args.seed, keep)
        print(
            f"{name}: {args.folds}-fold cross-validation grouped by prompt, {sum(map(sum, result['matrix']))} "
            "test replies; matrix summed over folds:"
        )
        print(format_confusion(result["matrix"]))
        print(
            "mean over folds  "
            + "  ".join(f"{c} P {result['mean'][c][0]:.3f} R {result['mean'][c][1]:.3f}" for c in LABELS)
        )
