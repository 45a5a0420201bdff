"""Seconds of the exact McNemar test at benchmark scale (100,000 questions, 39,000 of them discordant).

PYTHONPATH=src python benchmarks/mcnemar_scale.py
"""

from __future__ import annotations

import time

from qilin.eval.significance import mcnemar_p

if __name__ == "__main__":
    for questions, gained, lost in ((10_000, 2_100, 1_900), (100_000, 20_000, 19_000), (1_000_000, 200_500, 199_500)):
        unchanged = questions - gained - lost
        before = [False] * gained + [True] * lost + [True] * unchanged
        after = [True] * gained + [False] * lost + [True] * unchanged
        start = time.perf_counter()
        p = mcnemar_p(before, after)
        seconds = time.perf_counter() - start
        print(f"{questions:>9,} questions, {gained + lost:>7,} discordant: p = {p:.3e} in {seconds:.3f} s")
