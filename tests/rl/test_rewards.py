"""The verifiable rewards, and the easy hacks of multiple choice earning what a hand count says they should."""

from __future__ import annotations

import json

import pytest

from qilin.eval.multiple_choice import ExamQuestion
from qilin.rl.problems import permuted
from qilin.rl.rewards import (
    RewardPart,
    abstention,
    answer_format,
    correctness,
    reward_parts,
    total_reward,
)

OPTIONS = {"A": "心内科", "B": "骨科", "C": "眼科", "D": "皮肤科", "E": "口腔科"}
WEIGHTS = {"correctness": 1.0, "format": 0.1}


def _problems() -> list[ExamQuestion]:
    """10 single-answer problems whose source always puts the answer at A, and 2 multi-answer ones."""
    single = [
        ExamQuestion(f"问题{i}", {k: f"{v}{i}" for k, v in OPTIONS.items()}, frozenset("A"), id=str(i))
        for i in range(10)
    ]
    multi = [
        ExamQuestion(f"多选{i}", {k: f"{v}多{i}" for k, v in OPTIONS.items()}, frozenset("AB"), id=f"m{i}")
        for i in range(2)
    ]
    return single + multi


def test_correctness_is_an_exact_set_through_the_exam_extraction() -> None:
    right = frozenset("A")
    assert correctness("答案：A", OPTIONS, right) == 1.0
    assert correctness("应该去心内科看看。", OPTIONS, right) == 1.0  # the option's text, no letter
    assert correctness("答案：B", OPTIONS, right) == 0.0
    assert correctness("答案：A、C", OPTIONS, frozenset("AC")) == 1.0
    assert correctness("答案：A", OPTIONS, frozenset("AC")) == 0.0  # half a multi-answer set earns nothing
    assert correctness("心内科或者骨科都可以", OPTIONS, right) == 0.0  # naming two options is not answering A


def test_format_and_abstention() -> None:
    assert answer_format("答案：C", OPTIONS, frozenset("A")) == 1.0  # wrong but extractable
    assert answer_format("我也说不好", OPTIONS, frozenset("A")) == 0.0
    assert abstention("不确定，建议就医。", OPTIONS, frozenset("A")) == 1.0
    assert abstention("不确定，可能是心内科", OPTIONS, frozenset("A")) == 0.0  # an answer named is not an abstention
    assert abstention("", OPTIONS, frozenset("A")) == 0.0


def test_permutation_balances_the_right_position_and_keeps_the_answer() -> None:
    problems = _problems()
    shuffled = permuted(problems, seed=3)
    for before, after in zip(problems, shuffled, strict=True):
        assert sorted(after.options.values()) == sorted(before.options.values())
        assert {after.options[k] for k in after.answer} == {before.options[k] for k in before.answer}
    positions = [next(iter(q.answer)) for q in shuffled[:10]]
    assert positions == list("ABCDEABCDE")
    assert permuted(problems, seed=3) == shuffled  # seeded


def _mean(reply: str, problems: list[ExamQuestion], weights: dict[str, float]) -> float:
    return sum(total_reward(reply, q.options, q.answer, weights) for q in problems) / len(problems)


def test_reward_hacks_earn_what_a_hand_count_says() -> None:
    problems = permuted(_problems(), seed=0)
    # Always "A": right on the 2 single-answer problems of 10 whose answer went to A (positions cycle A..E), wrong on
    # both multi-answer ones, always extractable: 2/12 correctness + 0.1 format.
    assert _mean("答案：A", problems, WEIGHTS) == pytest.approx(2 / 12 + 0.1)
    # Every letter: the whole set, which is no problem's answer: format only.
    assert _mean("答案：ABCDE", problems, WEIGHTS) == pytest.approx(0.1)
    assert _mean("A B C D E", problems, WEIGHTS) == pytest.approx(0.1)
    # Nothing, or a reply naming no option: 0, also with abstention on ("" does not abstain).
    assert _mean("", problems, {**WEIGHTS, "abstention": 0.3}) == 0.0
    # Abstaining with credit on ranks between a wrong and a right answer.
    assert _mean("不确定", problems, {**WEIGHTS, "abstention": 0.3}) == pytest.approx(0.3)
    right = sum(total_reward("答案：" + "".join(sorted(q.answer)), q.options, q.answer, WEIGHTS) for q in problems)
    assert right / len(problems) == pytest.approx(1.1)


def test_reward_parts_follow_the_weights_and_call_like_trl() -> None:
    parts = reward_parts({"correctness": 1.0, "format": 0.2, "abstention": 0.0})
    assert [(p.name, p.weight) for p in parts] == [("correctness", 1.0), ("format", 0.2)]
    completions = [[{"role": "assistant", "content": "答案：B"}], "心内科"]
    options = [json.dumps(OPTIONS, ensure_ascii=False)] * 2
    assert parts[0](prompts=[None, None], completions=completions, options=options, answer=["B", "A"]) == [1.0, 1.0]
    assert RewardPart("format", 1.0).__name__ == "format"
    with pytest.raises(ValueError, match="unknown reward 'length'"):
        reward_parts({"length": 1.0})
