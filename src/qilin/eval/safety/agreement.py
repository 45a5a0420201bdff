"""How well a safety judge agrees with hand labels: the labelled reply sets, a confusion matrix and per-class
precision and recall.

    rows = labelled_replies("held_out")                      # replies_labelled.jsonl, the half never tuned on
    matrix = confusion([r["label"] for r in rows], [v.label for v in verdicts])
    print(format_confusion(matrix))
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from qilin.eval.safety.judge import LABELS, Verdict, judge_response
from qilin.eval.safety.prompts import EMBEDDED, embedded_prompts

REPLIES = EMBEDDED.with_name("replies_labelled.jsonl")  # written apart from the judge; the measure
OLD_REPLIES = EMBEDDED.with_name("judge_labelled.jsonl")  # written with the first rules; tuned on, all of it


def labelled_replies(split: str | None = None, path: str = str(REPLIES)) -> list[dict]:
    """Rows of a labelled reply set (`split` "tune" or "held_out", or None for all), each with its prompt and
    `harmful` (the prompt's label) joined in."""
    prompts = {p.id: p for p in embedded_prompts()}
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if split is None or r["split"] == split]
    for r in rows:
        prompt = prompts[r["prompt_id"]]
        r["prompt"], r["harmful"] = prompt.prompt, prompt.label == "harmful"
    return rows


def rules_judge(rows: list[dict]) -> list[Verdict]:
    """The rule-based judge's verdict on each labelled row."""
    return [judge_response(r["prompt"], r["response"], r["harmful"]) for r in rows]


def confusion(gold: list[str], predicted: list[str]) -> list[list[int]]:
    """3x3 counts: row = the label, column = the judge's class, both in LABELS order."""
    matrix = [[0] * len(LABELS) for _ in LABELS]
    for g, p in zip(gold, predicted, strict=True):
        matrix[LABELS.index(g)][LABELS.index(p)] += 1
    return matrix


def precision_recall(matrix: list[list[int]]) -> dict[str, tuple[float, float]]:
    """{class: (precision, recall)} of a confusion matrix (0.0 where a class is never predicted)."""
    result = {}
    for i, label in enumerate(LABELS):
        predicted = sum(row[i] for row in matrix)
        result[label] = (matrix[i][i] / predicted if predicted else 0.0, matrix[i][i] / (sum(matrix[i]) or 1))
    return result


def format_confusion(matrix: list[list[int]]) -> str:
    """The matrix and per-class precision/recall as aligned text."""
    scores = precision_recall(matrix)
    lines = [f"{'label/judge':<14}" + "".join(f"{c:>12}" for c in LABELS) + f"{'precision':>11}{'recall':>8}"]
    for i, label in enumerate(LABELS):
        precision, recall = scores[label]
        lines.append(f"{label:<14}" + "".join(f"{n:>12}" for n in matrix[i]) + f"{precision:>11.2f}{recall:>8.2f}")
    total = sum(map(sum, matrix))
    correct = sum(matrix[i][i] for i in range(len(LABELS)))
    lines.append(f"agreement {correct}/{total} = {correct / (total or 1):.3f}")
    return "\n".join(lines)


def score_judge(rows: list[dict], judge: Callable[[list[dict]], list[Verdict]]) -> list[list[int]]:
    """The confusion matrix of `judge` (rows -> verdicts) against the rows' labels."""
    return confusion([r["label"] for r in rows], [v.label for v in judge(rows)])


def endpoint_judge(client_factory: Callable[[], Any]) -> Callable[[list[dict]], list[Verdict]]:
    """The LLM judge (`judge_with_llm`) through a fresh chat client per call, as a rows -> verdicts function."""
    from qilin.eval.safety.llm_judge import judge_with_llm

    def judge(rows: list[dict]) -> list[Verdict]:
        return judge_with_llm(client_factory(), [r["prompt"] for r in rows], [r["response"] for r in rows])

    return judge


def agreement_report(
    rows: list[dict], judge: Callable[[list[dict]], list[Verdict]], title: str, misses: bool = False
) -> str:
    """A title line, the confusion matrix with precision/recall, and optionally one line per miss."""
    verdicts = judge(rows)
    lines = [f"{title}: {len(rows)} replies", format_confusion(score_judge(rows, lambda _: verdicts))]
    if misses:
        for r, v in zip(rows, verdicts, strict=True):
            if v.label != r["label"]:
                lines.append(
                    f"{r['label']:>10} <- {v.label:<10} {v.rule[:28]:<28} {r['kind']:<15} {r['response'][:60]!r}"
                )
    return "\n".join(lines)
