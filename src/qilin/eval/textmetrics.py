"""BLEU and ROUGE as the Qilin-Med / CMExam evaluation code defines them, plus standard count-based ROUGE.

The Qilin-Med and CMExam papers report numbers from code that borrows tensorflow/nmt's `bleu.py` and
`rouge.py`. To put our numbers beside theirs we follow those definitions exactly:

BLEU-n (`corpus_bleu`): corpus-level BLEU with uniform weights over orders 1..n. Each order's precision
is clipped n-gram matches summed over the corpus divided by the hypothesis n-grams summed over the
corpus; no smoothing, so any order with zero matches makes BLEU 0; brevity penalty
exp(1 - r/c) when the total hypothesis length c is below the total reference length r. Reported x 100.
Huatuo-26M answers are tokenized into words with jieba.

ROUGE-N, nmt variant (`rouge_n_unique`): per answer pair, the n-grams of each side as a **set** (a
repeated n-gram counts once), P = |overlap| / |hyp set|, R = |overlap| / |ref set|,
F = 2PR / (P + R + 1e-8); averaged over pairs. ROUGE-L (`rouge_l`): per pair, LCS length l over
hypothesis length n and reference length m, P = l/n, R = l/m, beta = P / (R + 1e-12),
F = (1 + beta^2) R P / (R + beta^2 P + 1e-12); averaged. Computed on characters (whitespace dropped), as
CMExam splits Chinese into characters. nmt's `rouge()` drops pairs whose hypothesis is empty before
averaging; we keep that rule in the nmt variant and report how many were dropped.

ROUGE-N, count variant (`rouge_n_count`): the usual definition (Lin 2004) with n-gram **counts** clipped
by the reference count; F1 averaged over pairs, empty hypotheses scoring 0.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    """Counts of the n-grams of a token sequence."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]], max_order: int) -> float:
    """tensorflow/nmt compute_bleu (one reference per hypothesis, no smoothing), x 100."""
    matches = [0] * max_order
    possible = [0] * max_order
    ref_length = hyp_length = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        ref_length += len(ref)
        hyp_length += len(hyp)
        for n in range(1, max_order + 1):
            overlap = ngrams(hyp, n) & ngrams(ref, n)
            matches[n - 1] += sum(overlap.values())
            possible[n - 1] += max(0, len(hyp) - n + 1)
    precisions = [m / p if p > 0 else 0.0 for m, p in zip(matches, possible, strict=True)]
    if min(precisions) <= 0 or hyp_length == 0:
        return 0.0
    geo_mean = math.exp(sum(math.log(p) for p in precisions) / max_order)
    ratio = hyp_length / ref_length if ref_length else 1.0
    brevity = 1.0 if ratio > 1.0 else math.exp(1 - 1 / ratio)
    return 100 * geo_mean * brevity


def rouge_n_unique(hyp: Sequence[str], ref: Sequence[str], n: int) -> float:
    """nmt rouge_n F1: n-gram sets, so a repeated n-gram counts once."""
    h, r = set(ngrams(hyp, n)), set(ngrams(ref, n))
    overlap = len(h & r)
    p = overlap / len(h) if h else 0.0
    rec = overlap / len(r) if r else 0.0
    return 2.0 * p * rec / (p + rec + 1e-8)


def rouge_n_count(hyp: Sequence[str], ref: Sequence[str], n: int) -> float:
    """Standard ROUGE-N F1 with clipped n-gram counts."""
    h, r = ngrams(hyp, n), ngrams(ref, n)
    overlap = sum((h & r).values())
    if not overlap:
        return 0.0
    p, rec = overlap / sum(h.values()), overlap / sum(r.values())
    return 2 * p * rec / (p + rec)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (O(len a x len b) time, O(len b) memory)."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(hyp: Sequence[str], ref: Sequence[str]) -> float:
    """nmt rouge_l_sentence_level F score."""
    if not hyp or not ref:
        return 0.0
    lcs = lcs_length(hyp, ref)
    r, p = lcs / len(ref), lcs / len(hyp)
    beta = p / (r + 1e-12)
    return (1 + beta**2) * r * p / (r + beta**2 * p + 1e-12)


def characters(text: str) -> list[str]:
    """Characters without whitespace (CMExam's `' '.join(list(s)).split()`)."""
    return [c for c in text if not c.isspace()]


def words(text: str) -> list[str]:
    """jieba word tokens without whitespace."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut(text) if w.strip()]


def score_answers(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """BLEU-1/2/4 (jieba words), ROUGE-1/2/L nmt variant and count variant (characters), all x 100."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    hyp_words = [words(p) for p in predictions]
    ref_words = [words(r) for r in references]
    scores = {f"bleu_{n}": round(corpus_bleu(ref_words, hyp_words, n), 2) for n in (1, 2, 4)}
    pairs = [(characters(p), characters(r)) for p, r in zip(predictions, references, strict=True)]
    kept = [(h, r) for h, r in pairs if h]  # nmt's rouge() drops empty hypotheses before averaging

    def mean(values: list[float]) -> float:
        return round(100 * sum(values) / len(values), 2) if values else 0.0

    scores["rouge_1"] = mean([rouge_n_unique(h, r, 1) for h, r in kept])
    scores["rouge_2"] = mean([rouge_n_unique(h, r, 2) for h, r in kept])
    scores["rouge_l"] = mean([rouge_l(h, r) for h, r in kept])
    scores["rouge_1_count"] = mean([rouge_n_count(h, r, 1) for h, r in pairs])
    scores["rouge_2_count"] = mean([rouge_n_count(h, r, 2) for h, r in pairs])
    scores["rouge_l_count"] = mean([rouge_l(h, r) for h, r in pairs])
    scores["empty_predictions"] = len(pairs) - len(kept)
    return scores
