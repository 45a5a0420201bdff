"""The fixed random subset an evaluation scores when a recipe caps its size (an entry's `limit`)."""

from __future__ import annotations

import random
from typing import TypeVar

T = TypeVar("T")


def seeded_subset(items: list[T], n: int, seed: int = 0) -> list[T]:
    """`n` items drawn with `random.Random(seed).sample`, or all of them when `n` is 0 or not below their count.

    The draw depends only on the number of items, so every model of a run, and every rerun, scores the same
    questions; changing the algorithm or the seed would move every recorded accuracy.
    """
    if 0 < n < len(items):
        return random.Random(seed).sample(items, n)
    return items
