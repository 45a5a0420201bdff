"""Error bars of an accuracy and whether a change between two models is noise.

    wilson_interval(240, 400)              # (55.13, 64.68): 95% interval of 60.0% on 400 questions
    mcnemar_p([True, False, ...], [...])   # exact two-sided p of the paired change, same questions

Wilson's interval rather than the normal one (p +/- 1.96 sqrt(p(1-p)/n)) because it stays inside [0, 100]
and keeps its coverage near 0% and 100% and on small groups (Brown, Cai and DasGupta 2001). McNemar's test
rather than comparing two intervals because both models answer the same questions: only the questions on
which they disagree carry information, and the exact binomial form is valid for any number of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z_95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of `correct` out of `n`, in percent rounded to 2 decimals."""
    if n <= 0:
        raise ValueError(f"no questions: n is {n}")
    if not 0 <= correct <= n:
        raise ValueError(f"{correct} correct out of {n}")
    p = correct / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return round(100 * max(0.0, center - half), 2), round(100 * min(1.0, center + half), 2)


def interval_of_accuracy(accuracy: float, n: int) -> tuple[float, float]:
    """The Wilson interval of an accuracy recorded in percent to 2 decimals over `n` questions.

    Below 10,000 questions the rounded percentage still identifies the count of correct answers exactly.
    """
    return wilson_interval(round(accuracy * n / 100), n)


def mcnemar_p(before: Sequence[bool], after: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value of the change from `before` to `after` (correctness per question).

    Under no change, each question one model gets right and the other wrong is equally likely to go either
    way: the p-value is twice the binomial(b + c, 1/2) tail at min(b, c), capped at 1.
    """
    if len(before) != len(after):
        raise ValueError(f"paired test needs the same questions: {len(before)} and {len(after)} answers")
    gained = sum(1 for x, y in zip(before, after, strict=True) if y and not x)
    lost = sum(1 for x, y in zip(before, after, strict=True) if x and not y)
    return min(1.0, 2 * binomial_half_tail(min(gained, lost), gained + lost))


def binomial_half_tail(k: int, n: int) -> float:
    """P(X <= k) for X ~ binomial(n, 1/2), in log space: O(k) float steps, not O(n^2) big-integer sums.

    The terms rise with i up to n/2, so the sum runs down from the largest term C(n, k) / 2^n (from lgamma) by
    the ratio C(n, i-1) / C(n, i) = i / (n - i + 1) and stops once a term no longer changes the sum.
    """
    if n == 0 or k >= n:
        return 1.0
    if k > n // 2:
        return 1.0 - binomial_half_tail(n - k - 1, n)
    log_top = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    total, term = 1.0, 1.0
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        total += term
        if term < 1e-17 * total:
            break
    return min(1.0, math.exp(log_top + math.log(total)))
