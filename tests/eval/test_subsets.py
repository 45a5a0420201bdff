"""The capped evaluation subset: the same questions as the inline draws it replaced, pinned at the demo's sizes."""

import hashlib
import random

import pytest

from qilin.eval.subsets import seeded_subset


# (items, cap) of the demo recipes: CMExam 400 of 675, Huatuo QA 100 of 175, VQA 400 of 1101. The digests are of
# the indices `random.Random(0).sample` drew before seeded_subset existed (eval/suite.py twice, eval/vqa.py once).
@pytest.mark.parametrize(
    ("total", "cap", "first", "digest"),
    [
        (675, 400, [394, 430, 41, 265, 523, 497], "b8029215dae9b4da"),
        (175, 100, [98, 107, 10, 66, 130, 124], "8a116e6d89637f73"),
        (1101, 400, [788, 861, 82, 530, 1047, 995], "a76662f4e08bf24f"),
    ],
)
def test_demo_subsets_are_the_ones_drawn_before(total: int, cap: int, first: list[int], digest: str) -> None:
    chosen = seeded_subset(list(range(total)), cap)
    assert chosen[:6] == first
    assert hashlib.sha256(repr(chosen).encode()).hexdigest()[:16] == digest
    assert chosen == random.Random(0).sample(list(range(total)), cap)  # the old call sites' exact expression


def test_the_draw_depends_on_positions_not_contents() -> None:
    words = [f"q{i}" for i in range(50)]
    assert seeded_subset(words, 7) == [words[i] for i in seeded_subset(list(range(50)), 7)]
    assert seeded_subset(words, 7, seed=1) != seeded_subset(words, 7)


@pytest.mark.parametrize("cap", [0, 50, 80])
def test_no_cap_or_a_cap_above_the_count_keeps_everything_in_order(cap: int) -> None:
    items = list(range(50))
    assert seeded_subset(items, cap) is items
