"""Stage gates: what a model must show against an earlier one on the same items, as pass, fail or inconclusive.

    gain_test(before, after, alpha=0.05)                      # significant gain: exact McNemar
    non_inferiority_test(before, after, margin=3.0)           # not more than 3 points worse: paired interval

`before` and `after` are per-item outcomes of one proportion on the same items, True where the event counted
happened (a correct answer; for a lower-is-better rate such as unsafe %, an unsafe reply). With
`lower_is_better` the tests read "better" as fewer events.

gain: pass when the change is a gain and the exact two-sided McNemar p < alpha; inconclusive when it is a gain
that is not significant; fail when it is no gain at all (no change or a loss): the stage did not move the way
it had to.

non_inferior (margin m points): the paired difference d = after - before (in points, positive = better) has the
1 - 2 alpha two-sided interval [lo, hi], whose lower end is the one-sided 1 - alpha bound. pass when lo > -m
(worse by less than m, shown at level alpha); fail when hi < -m (worse by more than m, shown); inconclusive
otherwise. The interval is Agresti and Min's (2005): the Wald interval of the paired difference after adding 1/2
to each of the four cells of the 2x2 table, which keeps its coverage with few discordant pairs, where the plain
Wald interval collapses to a point when none disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from qilin.eval.significance import mcnemar_p

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class GateVerdict:
    """A gate's verdict and the figures it rests on (percentages in points)."""

    verdict: str
    figures: dict[str, Any] = field(default_factory=dict)


def paired_changes(before: Sequence[bool], after: Sequence[bool], lower_is_better: bool = False) -> tuple[int, int]:
    """(improved, worsened): items better after than before, and worse, on the same items."""
    if len(before) != len(after):
        raise ValueError(f"a paired test needs the same items: {len(before)} and {len(after)} outcomes")
    good_before = [x != lower_is_better for x in before]
    good_after = [y != lower_is_better for y in after]
    improved = sum(1 for x, y in zip(good_before, good_after, strict=True) if y and not x)
    worsened = sum(1 for x, y in zip(good_before, good_after, strict=True) if x and not y)
    return improved, worsened


def paired_difference_interval(improved: int, worsened: int, n: int, confidence: float) -> tuple[float, float]:
    """Agresti-Min interval of the paired difference (improved - worsened) / n, in points, two-sided."""
    if n <= 0:
        raise ValueError(f"no items: n is {n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    total = n + 2  # half an item added to each of the four cells
    d = (improved - worsened) / total
    variance = ((improved + worsened + 1) / total - d * d) / total
    half = z * math.sqrt(variance)
    return round(100 * (d - half), 2), round(100 * (d + half), 2)


def gain_test(
    before: Sequence[bool], after: Sequence[bool], alpha: float = 0.05, lower_is_better: bool = False
) -> GateVerdict:
    """Whether `after` is significantly better than `before` (exact two-sided McNemar), see the module docstring."""
    improved, worsened = paired_changes(before, after, lower_is_better)
    good = [x != lower_is_better for x in before], [y != lower_is_better for y in after]
    p = mcnemar_p(*good)
    figures = {"improved": improved, "worsened": worsened, "p": round(p, 4), "alpha": alpha}
    if improved <= worsened:
        return GateVerdict(FAIL, figures)
    return GateVerdict(PASS if p < alpha else INCONCLUSIVE, figures)


def non_inferiority_test(
    before: Sequence[bool], after: Sequence[bool], margin: float, alpha: float = 0.05, lower_is_better: bool = False
) -> GateVerdict:
    """Whether `after` is worse than `before` by less than `margin` points, see the module docstring."""
    improved, worsened = paired_changes(before, after, lower_is_better)
    low, high = paired_difference_interval(improved, worsened, len(before), 1 - 2 * alpha)
    figures = {
        "improved": improved,
        "worsened": worsened,
        "difference": round(100 * (improved - worsened) / len(before), 2),
        "interval": [low, high],
        "margin": margin,
        "alpha": alpha,
    }
    if low > -margin:
        return GateVerdict(PASS, figures)
    return GateVerdict(FAIL if high < -margin else INCONCLUSIVE, figures)
