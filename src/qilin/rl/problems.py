"""Verifiable problems: the JSONL format GRPO trains on, its reader, the per-sample option permutation, the prompts.

One problem a line (`qilin data problems` writes them; a user may write their own):

    {"id": "kb-17", "question": "高血压患者一般到哪个科室就诊？", "options": {"A": "心内科", "B": "骨科", ...},
     "answer": "A", "multiple": false, "language": "zh", "source": "kb", "kind": "department"}

`answer` holds the right letters ("AC" for a multi-answer problem, scored as an exact set); `multiple` marks a
problem whose candidates are told to give every right option even when one is right; `source` and `kind` are free
labels the builder's counts use. The answer is checkable: a reply is right when the answer extraction evaluation
uses finds exactly those letters (`qilin.rl.rewards`).
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from qilin.data.records import DataError, iter_json_records
from qilin.eval.multiple_choice import ExamQuestion, cloze_context, generation_prompt, is_multi

LETTERS = "ABCDEFGHIJ"
PROMPT_STYLES = ("exam", "cloze")


def problem_record(q: ExamQuestion) -> dict[str, Any]:
    """The JSONL record of a problem."""
    return {
        "id": q.id,
        "question": q.question,
        "options": q.options,
        "answer": "".join(sorted(q.answer)),
        "multiple": q.multiple,
        "language": q.language,
        **q.annotations,
    }


def read_problems(path: str | Path) -> list[ExamQuestion]:
    """Problems of a JSONL file; a bad record raises DataError naming its line and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "", "file not found")
    problems = []
    for where, obj in iter_json_records(path):
        if isinstance(obj, DataError):
            raise obj
        if not isinstance(obj, dict):
            raise DataError(path, where, "expected a JSON object")
        question, options, answer = obj.get("question"), obj.get("options"), obj.get("answer")
        if not isinstance(question, str) or not question.strip():
            raise DataError(path, where, "field 'question': expected a non-empty string")
        if (
            not isinstance(options, dict)
            or len(options) < 2
            or not all(k in LETTERS and isinstance(v, str) and v.strip() for k, v in options.items())
        ):
            raise DataError(path, where, "field 'options': expected an object of two or more letters -> option text")
        if not isinstance(answer, str) or not answer or not set(answer) <= set(options):
            raise DataError(
                path, where, f"field 'answer': {answer!r} is not a set of option letters {''.join(options)}"
            )
        language = obj.get("language", "zh")
        if language not in ("zh", "en"):
            raise DataError(path, where, f"field 'language': expected 'zh' or 'en', got {language!r}")
        labels = {k: str(v) for k, v in obj.items() if k in ("source", "kind") and v}
        problems.append(
            ExamQuestion(
                question=question.strip(),
                options=dict(options),
                answer=frozenset(answer),
                annotations=labels,
                id=obj.get("id"),
                language=language,
                multiple=bool(obj.get("multiple", False)),
            )
        )
    if not problems:
        raise DataError(path, "", "no problems")
    return problems


def permuted(problems: list[ExamQuestion], seed: int) -> list[ExamQuestion]:
    """Each problem with its options in a new order, the single right answer's position balanced over the problems.

    Among the single-answer problems with k options, the right option goes to positions 0, 1, ..., k-1 in turn
    (the other options in a seeded random order), so a policy that always answers one letter is right on 1/k of
    them whatever the source's own letter habits (exams favour some letters); multi-answer problems are shuffled.
    """
    rng = random.Random(seed)
    turn: dict[int, int] = {}
    out = []
    for q in problems:
        texts = list(q.options.values())
        right = [q.options[k] for k in sorted(q.answer)]
        order = texts[:]
        rng.shuffle(order)
        if not is_multi(q):
            position = turn.get(len(texts), 0)
            turn[len(texts)] = position + 1
            order.remove(right[0])
            order.insert(position % len(texts), right[0])
        letters = LETTERS[: len(order)]
        options = dict(zip(letters, order, strict=True))
        answer = frozenset(letters[order.index(t)] for t in right)
        out.append(replace(q, options=options, answer=answer))
    return out


def problem_prompt(q: ExamQuestion, style: str) -> str | list[dict[str, str]]:
    """What the policy answers: 'exam' is the generation-mode exam turn (instruction, options, "答案："), sent
    through the chat template; 'cloze' is the plain "{question}\\n答案：" the log-likelihood exam scores options
    after, with no options shown (the reward then credits naming the right option's text)."""
    if style == "exam":
        return [{"role": "user", "content": generation_prompt(q, [])}]
    if style == "cloze":
        return cloze_context(q)
    raise ValueError(f"unknown prompt style {style!r}; known: {', '.join(PROMPT_STYLES)}")


def grpo_rows(problems: list[ExamQuestion], style: str) -> list[dict[str, Any]]:
    """Rows for trl's GRPOTrainer: the prompt, and the columns the rewards read (options as JSON, answer letters)."""
    return [
        {
            "prompt": problem_prompt(q, style),
            "options": json.dumps(q.options, ensure_ascii=False),
            "answer": "".join(sorted(q.answer)),
        }
        for q in problems
    ]
