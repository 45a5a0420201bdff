"""Which published layout a benchmark file is in, and reading it into `ExamQuestion`s.

    fmt, questions = read_benchmark("US/test.jsonl")           # ("medqa", [...]): detected and logged
    read_benchmark("items.csv", "generic", "question=stem,answer=key")

Detection looks at the file type and the first record's fields, never at the file name: CSV with `Options`
is CMExam, CSV with A-D columns is CMMLU (a folder of CSVs: CMMLU subjects), a JSON object keyed by id with
`QUESTION` and `final_decision` is PubMedQA, records with `opa` are MedMCQA, with `answer_idx` MedQA, with
`option` CMB-Exam, and records with question/options/answer the generic layout.
"""

from __future__ import annotations

from pathlib import Path

from qilin.data.records import DataError
from qilin.eval.benchmarks.chinese import cmb_questions, cmmlu_questions
from qilin.eval.benchmarks.generic import DEFAULT_FIELDS, generic_questions, parse_fields
from qilin.eval.benchmarks.medmcqa import BASES as MEDMCQA_BASES
from qilin.eval.benchmarks.medmcqa import medmcqa_questions
from qilin.eval.benchmarks.medqa import medqa_questions
from qilin.eval.benchmarks.pubmedqa import pubmedqa_questions
from qilin.eval.benchmarks.raw import RawFile, load_raw
from qilin.eval.multiple_choice import ExamQuestion, read_cmexam
from qilin.log import get_logger

log = get_logger(__name__)

# name -> the published file and the split its paper reports (for --help and docs/evaluation.md)
FORMATS = {
    "cmexam": "CMExam CSV (Question, Options, Answer, annotation columns); the paper's test split",
    "cmb": "CMB-Exam JSON list (question, option A-E, answer, question_type); test answers joined by id from "
    "CMB-test-choice-answer.json (given, or beside the questions)",
    "medqa": "MedQA JSONL (question, options, answer_idx, answer, meta_info), USMLE or MCMLE; the test split",
    "cmmlu": "CMMLU per-subject CSV (index, Question, A-D, Answer) or a folder of them; the test split",
    "medmcqa": "MedMCQA JSON lines (question, opa-opd, cop, subject_name); the dev split (test has no answers)",
    "medmcqa-hf": "MedMCQA with cop numbered from 0 (the Hugging Face export)",
    "medmcqa-orig": "MedMCQA with cop numbered from 1 (the original release)",
    "pubmedqa": "PubMedQA ori_pqal.json (PMID -> QUESTION, CONTEXTS, final_decision): 1,000 labelled questions; "
    "papers report the 500 of the authors' test_set.json",
    "generic": "any CSV/JSON(L) with --fields question=,options=,answer=,groups=a+b,id=",
}


def detect_format(path: Path, raw: RawFile | None) -> str:
    """The layout of a file (or a folder of CMMLU CSVs), from its type and its first record's fields."""
    if path.is_dir():
        return "cmmlu"
    assert raw is not None
    fields = raw.fields()
    if raw.kind == "csv":
        if {"Question", "Options", "Answer"} <= fields:
            return "cmexam"
        if {"Question", "A", "B", "C", "D", "Answer"} <= fields:
            return "cmmlu"
    elif raw.kind == "keyed" and {"QUESTION", "final_decision"} <= fields:
        return "pubmedqa"
    elif "opa" in fields:
        return "medmcqa"
    elif "answer_idx" in fields:
        return "medqa"
    elif "option" in fields:
        return "cmb"
    if set(DEFAULT_FIELDS.values()) <= fields:
        return "generic"
    raise DataError(
        path,
        "",
        f"no known benchmark layout fits its fields {sorted(fields)}; give --format (one of "
        f"{', '.join(FORMATS)}), e.g. --format generic --fields question=...,options=...,answer=...",
    )


def read_benchmark(
    path: str | Path, fmt: str = "auto", fields: str | None = None, answers: str | Path | None = None
) -> tuple[str, list[ExamQuestion]]:
    """(layout, questions) of a benchmark file; 'auto' detects the layout and logs which it chose.

    `answers`: a file of answers published apart from the questions (CMB's test split), joined by id.
    """
    path = Path(path)
    if fmt not in ("auto", *FORMATS):
        raise DataError(path, "", f"unknown format {fmt!r}; known: auto, {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(path, "", "file not found")
    raw = None
    if not path.is_dir() and fmt not in ("cmexam", "cmmlu"):
        raw = load_raw(path)
        if not raw.records:
            raise DataError(path, "", "no questions")
    elif path.is_dir() and fmt not in ("auto", "cmmlu"):
        raise DataError(path, "", f"a folder is read only as CMMLU subject CSVs, not as {fmt}")
    if fmt == "auto":
        fmt = detect_format(path, raw)
        log.info(f"{path}: read as {fmt} ({FORMATS[fmt].split(';')[0]})")
    if fmt == "cmexam":
        questions = read_cmexam(path)
    elif fmt == "cmmlu":
        questions = cmmlu_questions(path)
    elif fmt == "generic":
        questions = generic_questions(raw, parse_fields(fields))
    else:
        questions = read_records(raw, fmt, Path(answers) if answers else None)
    if not questions:
        raise DataError(path, "", "no questions")
    return fmt, questions


def read_records(raw: RawFile, fmt: str, answers: Path | None = None) -> list[ExamQuestion]:
    """The questions of a JSON/JSONL layout (CMB joins test answers by id; MedMCQA's numbering by format)."""
    if fmt == "cmb":
        return cmb_questions(raw, answers)
    if fmt == "medqa":
        return medqa_questions(raw)
    if fmt in MEDMCQA_BASES:
        return medmcqa_questions(raw, fmt)
    return pubmedqa_questions(raw)
