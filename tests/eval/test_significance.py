"""Wilson intervals and the exact McNemar test against hand-computed values."""

from __future__ import annotations

import pytest

from qilin.eval.significance import interval_of_accuracy, mcnemar_p, wilson_interval


def test_wilson_interval_of_240_of_400() -> None:
    # p = 0.6, z^2 = 3.8415: center (0.6 + 3.8415/800) / (1 + 3.8415/400) = 0.60480 / 1.00960 = 0.59905;
    # half 1.96 * sqrt(0.24/400 + 3.8415/640000) / 1.00960 = 1.96 * 0.024617 / 1.00960 = 0.047790
    assert wilson_interval(240, 400) == (55.13, 64.68)
    assert interval_of_accuracy(60.0, 400) == (55.13, 64.68)  # the same count recovered from the percentage
    # 200/400: center 0.5, half 1.96 * sqrt(0.25/400 + 3.8415/640000) / 1.00960 = 1.96 * 0.025120 / 1.00960
    # = 0.048765: about +/-4.9 points at 400 questions near 50%
    assert wilson_interval(200, 400) == (45.12, 54.88)


def test_wilson_interval_stays_inside_0_and_100() -> None:
    # 0/10: center = (1.9208/10) / 1.38415 = 0.13877 = half, so the interval starts at exactly 0
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == 27.75
    assert wilson_interval(10, 10) == (72.25, 100.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 0)


def test_mcnemar_exact_p_on_a_known_table() -> None:
    # 9 questions gained, 1 lost, 10 unchanged: 2 * P(X <= 1 | Bin(10, 1/2)) = 2 * 11/1024 = 0.021484375
    before = [False] * 9 + [True] + [True] * 5 + [False] * 5
    after = [True] * 9 + [False] + [True] * 5 + [False] * 5
    assert mcnemar_p(before, after) == pytest.approx(22 / 1024)
    assert mcnemar_p(after, before) == pytest.approx(22 / 1024)  # symmetric
    # 6 gained, 3 lost: 2 * (1 + 9 + 36 + 84) / 512 = 0.5078125, noise
    assert mcnemar_p([False] * 6 + [True] * 3, [True] * 6 + [False] * 3) == pytest.approx(260 / 512)
    assert mcnemar_p([True, False], [True, False]) == 1.0  # no disagreement
    with pytest.raises(ValueError, match="same questions"):
        mcnemar_p([True], [True, False])


def test_mcnemar_matches_scipy_binomtest() -> None:
    stats = pytest.importorskip("scipy.stats")
    before = [False] * 30 + [True] * 14
    after = [True] * 30 + [False] * 14
    assert mcnemar_p(before, after) == pytest.approx(stats.binomtest(14, 44, 0.5).pvalue, rel=1e-12)


def test_binomial_tail_in_log_space_equals_the_exact_sum() -> None:
    from fractions import Fraction
    from math import comb

    from qilin.eval.significance import binomial_half_tail

    for n in (1, 2, 7, 40, 101, 500, 1200):
        for k in {0, 1, n // 7, n // 3, n // 2 - 1, n // 2}:
            if 0 <= k <= n:
                exact = Fraction(sum(comb(n, i) for i in range(k + 1)), 2**n)
                assert binomial_half_tail(k, n) == pytest.approx(float(exact), rel=1e-10, abs=1e-300), (n, k)


def test_mcnemar_at_benchmark_scale_keeps_tiny_p_values() -> None:
    # 39,000 discordant questions, 19,000 vs 20,000: z = -1000/sqrt(39000) = -5.06, two-sided p about 4e-7
    before = [True] * 19_000 + [False] * 20_000 + [True] * 61_000
    after = [False] * 19_000 + [True] * 20_000 + [True] * 61_000
    p = mcnemar_p(before, after)
    assert 1e-7 < p < 1e-6
    assert 0 < mcnemar_p([True] * 1000, [False] * 1000) < 1e-300  # 2 / 2^1000: no overflow, no underflow
