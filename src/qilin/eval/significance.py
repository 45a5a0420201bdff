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
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(gained, lost) + 1))
    return min(1.0, 2 * tail / 2**n)
