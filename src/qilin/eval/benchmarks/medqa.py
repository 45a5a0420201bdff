"""MedQA (Jin et al. 2021, arXiv 2009.13081): USMLE (English) and MCMLE (mainland China) questions, JSON lines.

Papers report the test split (`questions/US/test.jsonl`: 1,273 questions with 5 options, and the 4-option
version `US/4_options/phrases_no_exclude_test.jsonl`; `questions/Mainland/test.jsonl`: 3,426 questions):

    {"question": "A 23-year-old ...", "options": {"A": "...", "B": "...", ...}, "answer_idx": "E",
     "answer": "Nitrofurantoin", "meta_info": "step2&3"}

`answer` must be the text of the option `answer_idx` names (a mismatch is refused); groups: `meta_info`.
"""

from __future__ import annotations

from qilin.data.records import DataError
from qilin.eval.benchmarks.raw import RawFile, checked_answer, language_of, required
from qilin.eval.multiple_choice import ExamQuestion


def medqa_questions(raw: RawFile) -> list[ExamQuestion]:
    """MedQA records, English or Chinese, 4 or 5 options."""
    questions = []
    for where, _, obj in raw.records:
        given = required(obj, "options", raw.path, where, dict)
        options = {str(k).strip().upper(): str(v).strip() for k, v in given.items()}
        if len(options) < 2 or any(not v for v in options.values()):
            raise DataError(raw.path, where, "field 'options': expected two or more non-empty options")
        answer = checked_answer(required(obj, "answer_idx", raw.path, where), options, raw.path, where, "answer_idx")
        text = obj.get("answer")
        (letter,) = answer
        if isinstance(text, str) and text.strip() and text.strip() != options[letter]:
            raise DataError(raw.path, where, f"field 'answer': {text!r} is not option {letter} ({options[letter]!r})")
        question = required(obj, "question", raw.path, where)
        meta = str(obj.get("meta_info") or "").strip()
        questions.append(
            ExamQuestion(
                question=question,
                options=options,
                answer=answer,
                annotations={"meta_info": meta} if meta else {},
                id=str(obj["id"]) if obj.get("id") is not None else None,
                language=language_of(question),
            )
        )
    return questions
