"""MedMCQA (Pal et al. 2022, arXiv 2203.14371): Indian medical entrance questions, 4 options, JSON lines.

Papers report the dev split (4,183 questions): the test split is released without answers, and a file
without them is refused. The original release numbers `cop` from 1; the Hugging Face export from 0:

    {"id": "...", "question": "...", "opa": "...", "opb": "...", "opc": "...", "opd": "...", "cop": 3,
     "choice_type": "single", "exp": "...", "subject_name": "Anatomy", "topic_name": "..."}

Format `medmcqa` reads the base from the file's own values (a 0 means 0-based, a 4 means 1-based) and logs it.
A file holding neither (a small subset: every answer B, C or D) cannot tell, and guessing would shift every
answer, so it is refused with the formats that settle it: `medmcqa-hf` (from 0) or `medmcqa-orig` (from 1).
Groups: `subject_name`.
"""

from __future__ import annotations

from qilin.data.records import DataError
from qilin.eval.benchmarks.raw import RawFile, required
from qilin.eval.multiple_choice import ExamQuestion
from qilin.log import get_logger

log = get_logger(__name__)

OPTION_FIELDS = {"A": "opa", "B": "opb", "C": "opc", "D": "opd"}


# format name -> how it numbers `cop` (None: read from the file's values)
BASES = {"medmcqa": None, "medmcqa-hf": 0, "medmcqa-orig": 1}


def cop_base(raw: RawFile, declared: int | None = None) -> int:
    """0 or 1: how this file numbers the correct option (`declared`, or read from its values); checks answers."""
    values = []
    for where, _, obj in raw.records:
        cop = obj.get("cop") if isinstance(obj, dict) else None
        if isinstance(cop, bool) or not isinstance(cop, int) or not -1 < cop < 5:
            raise DataError(
                raw.path,
                where,
                f"field 'cop': expected the correct option's number, got {cop!r} (MedMCQA's test split is "
                "released without answers: score the dev split)",
            )
        values.append(cop)
    if 0 in values and 4 in values:
        raise DataError(raw.path, "", "field 'cop': holds both 0 and 4, so neither numbering from 0 nor from 1 fits")
    if declared is not None:
        wrong = 4 if declared == 0 else 0
        if wrong in values:
            raise DataError(raw.path, "", f"field 'cop': a {wrong} occurs, so it is not numbered from {declared}")
        return declared
    if 0 in values:
        log.info(f"{raw.path}: MedMCQA 'cop' numbered from 0 (the Hugging Face export)")
        return 0
    if 4 in values:
        log.info(f"{raw.path}: MedMCQA 'cop' numbered from 1 (the original release)")
        return 1
    raise DataError(
        raw.path,
        "",
        "field 'cop': no 0 and no 4 occurs, so the file cannot tell whether it numbers options from 0 (the Hugging "
        "Face export) or from 1 (the original release); give --format medmcqa-hf (from 0) or --format "
        "medmcqa-orig (from 1)",
    )


def medmcqa_questions(raw: RawFile, fmt: str = "medmcqa") -> list[ExamQuestion]:
    """MedMCQA records with answers, `cop` numbered as the format says (`medmcqa`: read from the file)."""
    base = cop_base(raw, BASES[fmt])
    questions = []
    for where, _, obj in raw.records:
        options = {letter: required(obj, name, raw.path, where) for letter, name in OPTION_FIELDS.items()}
        subject = str(obj.get("subject_name") or "").strip()
        questions.append(
            ExamQuestion(
                question=required(obj, "question", raw.path, where),
                options=options,
                answer=frozenset("ABCD"[obj["cop"] - base]),
                explanation=str(obj.get("exp") or "").strip(),
                annotations={"subject_name": subject} if subject else {},
                id=str(obj["id"]) if obj.get("id") is not None else None,
                language="en",
            )
        )
    return questions
