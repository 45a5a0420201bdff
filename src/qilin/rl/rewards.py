"""Verifiable rewards for multiple-choice problems: small pure functions, combined by recipe weights.

Each reward reads one completion and the problem it answers (its options and its answer letters) and returns a
number; none sees the policy, so each is tested on hand-written replies. The answer is read by the extraction
evaluation uses (`qilin.eval.multiple_choice.extract_answer`: letters after "答案", letters at the start, else the
options whose text the reply names), so a reply the stage rewards is a reply the exam counts.

- `correctness`: 1 when the extracted set equals the answer set exactly (a multi-answer problem needs every
  right option and no wrong one), else 0. Naming every option ("ABCDE", or every option's text) extracts the
  whole set and earns 0 unless every option is right.
- `answer_format`: 1 when an answer can be extracted at all, else 0 (a small weight teaches the model to
  commit to an option; alone it would pay for "ABCDE", which is why it is never more than a nudge).
- `abstention`: 1 for a reply that abstains ("不确定", "I am not sure") and names no option; with a weight
  below correctness's it ranks right > abstain > wrong (off by default: weight 0).

Letter and position bias earn nothing beyond chance because the options of every problem are permuted per sample
(`qilin.rl.problems.permuted`), the right answer's position balanced over the problems.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qilin.eval.multiple_choice import extract_answer

ABSTAIN = re.compile(r"不确定|无法确定|不知道|(?i:i am not sure|i'm not sure|not sure|i don't know)")


def correctness(reply: str, options: dict[str, str], answer: frozenset[str]) -> float:
    """1.0 when the extracted answer set equals `answer` exactly, else 0.0."""
    return float(extract_answer(reply, options) == answer)


def answer_format(reply: str, options: dict[str, str], answer: frozenset[str]) -> float:
    """1.0 when an answer (a set of option letters) can be extracted from the reply, right or wrong, else 0.0."""
    return float(extract_answer(reply, options) is not None)


def abstention(reply: str, options: dict[str, str], answer: frozenset[str]) -> float:
    """1.0 when the reply abstains ("不确定") and no answer can be extracted from it, else 0.0."""
    return float(bool(ABSTAIN.search(reply)) and extract_answer(reply, options) is None)


REWARDS: dict[str, Callable[[str, dict[str, str], frozenset[str]], float]] = {
    "correctness": correctness,
    "format": answer_format,
    "abstention": abstention,
}


def completion_text(completion: Any) -> str:
    """The text of a trl completion: a string (plain prompts) or a list of messages (chat prompts)."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role", "assistant") == "assistant")


@dataclass(frozen=True)
class RewardPart:
    """One reward, callable the way trl's GRPOTrainer calls a reward function (its weight goes to reward_weights).

    The problem reaches it through the dataset's columns: `options` (a JSON object, letter -> text) and `answer`
    (the right letters, e.g. "AC"), as `qilin.rl.problems.grpo_rows` writes them.
    """

    name: str
    weight: float

    @property
    def __name__(self) -> str:  # trl logs each reward under its callable's name: rewards/<name>/mean
        return self.name

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        options: Sequence[str],
        answer: Sequence[str],
        **_: Any,
    ) -> list[float]:
        """The unweighted reward of each completion."""
        func = REWARDS[self.name]
        return [
            func(completion_text(c), json.loads(o), frozenset(a))
            for c, o, a in zip(completions, options, answer, strict=True)
        ]


def reward_parts(weights: dict[str, float]) -> list[RewardPart]:
    """The rewards with a non-zero weight, in a fixed order; an unknown name is an error naming the known ones."""
    unknown = set(weights) - set(REWARDS)
    if unknown:
        raise ValueError(f"unknown reward {sorted(unknown)[0]!r}; known: {', '.join(REWARDS)}")
    return [RewardPart(name, weights[name]) for name in REWARDS if weights.get(name, 0.0) != 0.0]


def total_reward(reply: str, options: dict[str, str], answer: frozenset[str], weights: dict[str, float]) -> float:
    """The weighted sum of the rewards of one reply (what trl adds up before normalising within the group)."""
    return sum(w * REWARDS[name](reply, options, answer) for name, w in weights.items() if w)
