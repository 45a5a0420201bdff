"""Huatuo-26M-style open QA: generate answers (or read predictions made elsewhere) and score BLEU/ROUGE."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qilin.data.records import DataError, iter_json_records
from qilin.eval.textmetrics import score_answers

PREDICTION_FIELDS = ("prediction", "response", "output", "generated")


@dataclass
class QAItem:
    """One test question with its reference answer."""

    question: str
    answer: str
    id: str | None = None


def _string(record: Any, names: tuple[str, ...], path: Path, where: str) -> str:
    if not isinstance(record, dict):
        raise DataError(path, where, f"expected a JSON object, got {type(record).__name__}")
    for name in names:
        if name in record:
            value = record[name]
            if isinstance(value, list) and len(value) == 1:  # Huatuo-26M stores some fields as 1-item lists
                value = value[0]
            if not isinstance(value, str):
                raise DataError(path, where, f"field '{name}': expected str, got {type(value).__name__}")
            return value
    raise DataError(path, where, f"missing field '{names[0]}' (or {', '.join(repr(n) for n in names[1:])})")


def read_qa(path: str | Path) -> list[QAItem]:
    """Items of a Huatuo-26M test file (`questions`/`answers`) or a `question`/`answer` JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "", "file not found")
    items = []
    for where, obj in iter_json_records(path):
        if isinstance(obj, DataError):
            raise obj
        question = _string(obj, ("questions", "question"), path, where)
        answer = _string(obj, ("answers", "answer"), path, where)
        items.append(QAItem(question, answer, str(obj["id"]) if "id" in obj else None))
    if not items:
        raise DataError(path, "", "no items")
    return items


def read_predictions(path: str | Path, ids: list[str | None]) -> list[str]:
    """Predictions made elsewhere for test items with these ids, matched by `id` when both sides have ids,
    else by line.

    A count or id mismatch is an error, never a silent truncation.
    """
    path = Path(path)
    records = []
    for where, obj in iter_json_records(path):
        if isinstance(obj, DataError):
            raise obj
        records.append((where, obj, _string(obj, PREDICTION_FIELDS, path, where)))
    if len(records) != len(ids):
        raise DataError(path, "", f"{len(records)} predictions for {len(ids)} test items; they must match one to one")
    if all(i is not None for i in ids) and all("id" in obj for _, obj, _ in records):
        by_id = {}
        for where, obj, text in records:
            key = str(obj["id"])
            if key in by_id:
                raise DataError(path, where, f"id {key!r} appears twice")
            by_id[key] = text
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise DataError(path, "", f"no prediction for id {missing[0]!r} ({len(missing)} ids missing)")
        return [by_id[i] for i in ids]
    return [text for _, _, text in records]


def generate_answers(
    model: Any, tokenizer: Any, items: list[QAItem], batch_size: int = 16, max_new_tokens: int = 256
) -> list[str]:
    """Answers generated with the model's chat template, batched (or by an `Endpoint`, tokenizer None)."""
    from qilin.chat_templates import render_prompt
    from qilin.models.endpoint import Endpoint
    from qilin.models.generation import generate_texts

    if isinstance(model, Endpoint):
        return model.replies([[{"role": "user", "content": item.question}] for item in items], max_new_tokens)
    prompts = [render_prompt(tokenizer, [{"role": "user", "content": item.question}]) for item in items]
    return generate_texts(model, tokenizer, prompts, max_new_tokens, batch_size)


def evaluate_qa(items: list[QAItem], predictions: list[str]) -> dict[str, float]:
    """BLEU-1/2/4 and ROUGE-1/2/L (both variants) of predictions against the reference answers."""
    return score_answers(predictions, [item.answer for item in items])
