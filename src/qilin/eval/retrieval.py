"""Exam questions with retrieved passages (Qilin-Med-RAG) and recall@k of the retriever; the `mcq` benchmark
(`qilin.eval.suite.mcq`) scores them, with McNemar against the same questions without passages.

    hits = retrieve(questions, retriever, k=3)          # passages per question, best first
    augmented = with_passages(questions, hits)          # rag_prompt's format: the one SFT trains and serving uses
    recall_at_k(questions, hits, 1)                     # share of questions whose best passage holds the answer

A passage holds the answer when it contains the text of every correct option (spaces and punctuation ignored), so
recall@k says how often the model had the answer in front of it: a question missed with the answer retrieved is
the model's miss, one missed without it is the retriever's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from qilin.chimed.dedup import normalize
from qilin.rag.prompt import rag_prompt

if TYPE_CHECKING:  # multiple_choice imports this module for its exams with passages
    from qilin.eval.multiple_choice import ExamQuestion


def retrieve(questions: list[ExamQuestion], retriever: Any, k: int) -> list[list[Any]]:
    """The top-k passages of each question, retrieved by its question and option texts.

    The options are in the query because exam questions often name only a category ("下列哪项是X的并发症")
    while the options name the entities the passages are about.
    """
    return [
        retriever.search(" ".join([q.question, *q.options.values()]), k)
        for q in tqdm(questions, desc="retrieving", unit=" questions", disable=len(questions) < 200)
    ]


def with_passages(questions: list[ExamQuestion], hits: list[list[Any]]) -> list[ExamQuestion]:
    """Questions with their passages in front, in `rag_prompt`'s format (as retrieval-aware SFT trains it)."""
    return [replace(q, question=rag_prompt(q.question, found)) for q, found in zip(questions, hits, strict=True)]


def holds_answer(text: str, q: ExamQuestion) -> bool:
    """Whether a passage contains every correct option's text (spaces and punctuation ignored)."""
    passage = normalize(text)
    return all(normalize(q.options[letter]) in passage for letter in q.answer)


def recall_at_k(questions: list[ExamQuestion], hits: list[list[Any]], k: int) -> float:
    """Percentage of questions with a passage holding the answer among their first k hits."""
    found = sum(any(holds_answer(p.text, q) for p in passages[:k]) for q, passages in zip(questions, hits, strict=True))
    return round(100 * found / len(questions), 2) if questions else 0.0


def recall_metrics(questions: list[ExamQuestion], retriever: Any, k: int, name: str) -> dict[str, float]:
    """`{name}_recall_{kind}_1` and `_{k}`: recall@1 and recall@k of a retriever on exam questions."""
    hits = retrieve(questions, retriever, k)
    return {f"{name}_recall_{retriever.kind}_{n}": recall_at_k(questions, hits, n) for n in sorted({1, k})}
