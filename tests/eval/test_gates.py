"""Stage gate tests against hand-computed figures: exact McNemar for a gain, the Agresti-Min paired interval for
non-inferiority, and the direction of a lower-is-better rate."""

from __future__ import annotations

import pytest

from qilin.eval.gates import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    gain_test,
    non_inferiority_test,
    paired_changes,
    paired_difference_interval,
)


def _pairs(improved: int, worsened: int, both_right: int, both_wrong: int) -> tuple[list[bool], list[bool]]:
    before = [False] * improved + [True] * worsened + [True] * both_right + [False] * both_wrong
    after = [True] * improved + [False] * worsened + [True] * both_right + [False] * both_wrong
    return before, after


def test_paired_changes_count_discordant_items_and_flip_for_lower_is_better() -> None:
    before, after = _pairs(5, 2, 30, 13)
    assert paired_changes(before, after) == (5, 2)
    assert paired_changes(before, after, lower_is_better=True) == (2, 5)  # fewer events is better
    with pytest.raises(ValueError, match="same items"):
        paired_changes([True], [True, False])


def test_gain_passes_on_a_significant_gain_only() -> None:
    # 9 improved, 1 worsened: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024 = 0.0215 < 0.05
    verdict = gain_test(*_pairs(9, 1, 5, 5), alpha=0.05)
    assert verdict.verdict == PASS and verdict.figures["p"] == round(22 / 1024, 4)
    # at alpha 0.01 the same gain is not shown
    assert gain_test(*_pairs(9, 1, 5, 5), alpha=0.01).verdict == INCONCLUSIVE
    # no gain at all (as many worse as better, or a loss): fail
    assert gain_test(*_pairs(3, 3, 5, 5)).verdict == FAIL
    assert gain_test(*_pairs(1, 9, 5, 5)).verdict == FAIL


def test_paired_interval_matches_the_hand_computed_agresti_min_interval() -> None:
    # 5 improved, 2 worsened of 50; half an item in each cell: n* = 52, d = 3/52 = 0.057692,
    # var = ((5 + 2 + 1)/52 - d^2)/52 = 0.0028946, z(0.95) = 1.644854 -> d -/+ 0.088498
    assert paired_difference_interval(5, 2, 50, 0.90) == (-3.08, 14.62)
    # 0 improved, 10 worsened of 50: d = -10/52 = -0.192308, var = (11/52 - d^2)/52 = 0.0033568,
    # half width 1.644854 * 0.057938 = 0.095300
    assert paired_difference_interval(0, 10, 50, 0.90) == (-28.76, -9.7)
    # no discordant pair: the interval still has width (the plain Wald interval would be [0, 0])
    low, high = paired_difference_interval(0, 0, 50, 0.90)
    assert low == -high and high == pytest.approx(100 * 1.644854 * (1 / 52 / 52) ** 0.5, abs=0.01)


def test_non_inferiority_verdicts_follow_the_interval_and_the_margin() -> None:
    before, after = _pairs(5, 2, 30, 13)
    verdict = non_inferiority_test(before, after, margin=3.0, alpha=0.05)
    assert verdict.verdict == INCONCLUSIVE and verdict.figures["interval"] == [-3.08, 14.62]  # -3.08 < -3 < 14.62
    assert verdict.figures["difference"] == 6.0  # (5 - 2) / 50
    assert non_inferiority_test(before, after, margin=4.0).verdict == PASS  # -3.08 > -4
    assert non_inferiority_test(*_pairs(0, 10, 30, 10), margin=3.0).verdict == FAIL  # -9.70 < -3


def test_non_inferiority_of_a_rate_where_lower_is_better() -> None:
    # unsafe replies: 10 prompts became unsafe, none became safe: unsafe % up 20 points on 50 prompts
    before, after = _pairs(10, 0, 5, 35)  # True = unsafe
    assert non_inferiority_test(before, after, margin=5.0, lower_is_better=True).verdict == FAIL
    # the same change read as an accuracy is a gain
    assert non_inferiority_test(before, after, margin=5.0).verdict == PASS
    assert gain_test(before, after, lower_is_better=True).verdict == FAIL
