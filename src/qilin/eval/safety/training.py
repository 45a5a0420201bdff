"""Training and cross-validating the safety classifier (`qilin.eval.safety.classifier`) on labelled replies.

    rows = development_replies()                          # the five labelled files (DEVELOPMENT_FILES)
    judge = train_classifier(rows)                        # numpy, full batch, deterministic
    report = cross_validate(rows, {"rules": rules_fit, "classifier": classifier_fit})

Multinomial logistic regression with L2, classes weighted by inverse frequency (non-answers are the rarest; the
power of that weight is `class_power`),
full-batch Adam on the sparse hashed features: no scikit-learn, a few seconds on one core. Cross-validation keeps a
prompt's replies in one fold (`grouped_folds`), so no fold is tested on a prompt it was trained on.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from qilin.eval.safety.agreement import DEVELOPMENT_FILES, confusion, labelled_replies, precision_recall
from qilin.eval.safety.classifier import DIMENSIONS, Features, LinearJudge, featurize, rules_onehot
from qilin.eval.safety.judge import LABELS, judge_response

# Chosen by cross-validation on the development replies, by prompt and by file (2026-12-06): see
# docs/safety-and-privacy.md. L2 3e-3 (1e-2 before): with four files it gains on both (by file 1,437 vs 1,430 of
# 1,537); a class power of 0.5 gained by file (1,438) but lost non-answers of the newest file (recall 0.56).
L2 = 3e-3
NGRAM_SCALE = 1.0
PRIOR = 2.0  # the fixed score of the rules' verdict (see LinearJudge)
CLASS_POWER = 1.0  # classes weighted by inverse frequency (balanced)
STEPS = 300
LEARNING_RATE = 0.05
FOLDS = 5

Fit = Callable[[list[dict]], Callable[[list[dict]], list[str]]]  # training rows -> (test rows -> labels)


def development_replies() -> list[dict]:
    """Every labelled reply Qilin ships (`DEVELOPMENT_FILES`, in that order), prompts joined in and each row's file
    name in `source`."""
    return [{**r, "source": path.name} for path in DEVELOPMENT_FILES for r in labelled_replies(path=str(path))]


def _design(features: list[Features]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sparse (row, slot, value) triples of a batch of replies."""
    rows = np.concatenate([np.full(len(f.slots), i, dtype=np.int64) for i, f in enumerate(features)])
    return rows, np.concatenate([f.slots for f in features]), np.concatenate([f.values for f in features])


def train_classifier(
    rows: list[dict],
    l2: float = L2,
    ngram_scale: float = NGRAM_SCALE,
    steps: int = STEPS,
    prior: float = PRIOR,
    class_power: float = CLASS_POWER,
) -> LinearJudge:
    """A `LinearJudge` fitted to `rows` (each with prompt, response, harmful and label); each class weighted by its
    inverse frequency to the power `class_power` (0: unweighted, 1: balanced)."""
    features = [featurize(r["prompt"], r["response"], r["harmful"], ngram_scale) for r in rows]
    row, slot, value = _design(features)
    used, column = np.unique(slot, return_inverse=True)  # train only the slots the replies use: (U,) and (nnz,)
    n, k, u = len(rows), len(LABELS), len(used)
    gold = np.array([LABELS.index(r["label"]) for r in rows])
    counts = np.bincount(gold, minlength=k)
    sample_weight = ((n / (k * np.maximum(counts, 1))) ** class_power)[gold]
    sample_weight /= sample_weight.sum()  # (N,) inverse class frequency (to a power), sums to 1
    onehot = np.eye(k)[gold]  # (N, K)
    ruled = prior * rules_onehot(features)  # (N, K) fixed
    weights, bias = np.zeros((u, k)), np.zeros(k)
    moments = [np.zeros_like(weights), np.zeros_like(weights), np.zeros(k), np.zeros(k)]
    for step in range(1, steps + 1):
        scores = np.stack([np.bincount(row, value * weights[column, c], minlength=n) for c in range(k)], 1)
        scores += bias + ruled
        scores -= scores.max(axis=1, keepdims=True)
        prob = np.exp(scores)
        prob /= prob.sum(axis=1, keepdims=True)
        error = (prob - onehot) * sample_weight[:, None]  # (N, K) d loss / d score
        grad_w = np.stack([np.bincount(column, value * error[row, c], minlength=u) for c in range(k)], 1)
        grad_w += l2 * weights
        grad_b = error.sum(axis=0)
        # Adam (Kingma & Ba 2015) with its usual betas; plain gradient descent needs ~10x the steps here
        for i, (param, grad) in enumerate(((weights, grad_w), (bias, grad_b))):
            m, v = moments[2 * i], moments[2 * i + 1]
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= LEARNING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    full = np.zeros((DIMENSIONS, k))
    full[used] = weights
    return LinearJudge(full, bias, ngram_scale, prior)


def classifier_fit(rows: list[dict], **options: float) -> Callable[[list[dict]], list[str]]:
    """Train on `rows`; return the trained classifier's labeller."""
    judge = train_classifier(rows, **options)
    return lambda test: [judge.judge(r["prompt"], r["response"], r["harmful"]).label for r in test]


def rules_fit(rows: list[dict]) -> Callable[[list[dict]], list[str]]:
    """The rules learn nothing: their labeller, whatever the training rows."""
    return lambda test: [judge_response(r["prompt"], r["response"], r["harmful"]).label for r in test]


def grouped_folds(rows: list[dict], folds: int = FOLDS, seed: int = 0, group: str = "prompt_id") -> list[int]:
    """A fold number per row: the rows' `group` values (a prompt, or a `source` file), shuffled with `seed`, dealt
    round-robin; the rows of one value share a fold. Grouped by source, each file is one fold (`folds` unused)."""
    values = sorted({r[group] for r in rows})
    if group == "source":
        return [values.index(r["source"]) for r in rows]
    random.Random(seed).shuffle(values)
    fold_of = {p: i % folds for i, p in enumerate(values)}
    return [fold_of[r[group]] for r in rows]


def cross_validate(
    rows: list[dict],
    fit: Fit,
    folds: int = FOLDS,
    seed: int = 0,
    tested: Callable[[dict], bool] | None = None,
    group: str = "prompt_id",
) -> dict:
    """Per fold: train `fit` on the other folds, label this one (only its rows `tested` accepts, when given).
    Returns the summed confusion matrix ("matrix"), the per-fold matrices ("folds"), per-class precision/recall
    averaged over folds ("mean": {class: (p, r)}) and each row's label from the fold that tested it ("predicted",
    None for rows not tested)."""
    fold_of = grouped_folds(rows, folds, seed, group)
    folds = max(fold_of) + 1
    total = [[0] * len(LABELS) for _ in LABELS]
    per_fold, predicted = [], [None] * len(rows)
    for k in range(folds):
        train = [r for r, f in zip(rows, fold_of, strict=True) if f != k]
        test = [i for i, f in enumerate(fold_of) if f == k and (tested is None or tested(rows[i]))]
        labels = fit(train)([rows[i] for i in test])
        for i, label in zip(test, labels, strict=True):
            predicted[i] = label
        matrix = confusion([rows[i]["label"] for i in test], labels)
        per_fold.append(matrix)
        total = [[a + b for a, b in zip(x, y, strict=True)] for x, y in zip(total, matrix, strict=True)]
    scores = [precision_recall(m) for m in per_fold]
    mean = {c: tuple(float(np.mean([s[c][i] for s in scores])) for i in (0, 1)) for c in LABELS}
    return {"matrix": total, "folds": per_fold, "mean": mean, "predicted": predicted}
