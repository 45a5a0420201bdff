"""Chinese medical exam layouts: CMB-Exam (a JSON list) and CMMLU (one CSV per subject).

CMB-Exam (Wang et al. 2023, arXiv 2308.08833), `CMB-Exam/CMB-val/CMB-val-merge.json` with answers inline:

    [{"exam_type": "医师考试", "exam_class": "执业医师", "exam_subject": "口腔执业医师", "question": "...",
      "answer": "D", "question_type": "单项选择题", "option": {"A": "...", "B": "...", ..., "E": "..."}}]

The test split's questions (`CMB-test-choice-question-merge.json`) carry an `id` and no answer; the authors
publish the answers apart (`CMB-test-choice-answer.json`, a list of {"id": 1, ..., "answer": "D"}). They are
joined by id: from the answers file given, or the one of that name beside the questions.

CMMLU (Li et al. 2023, arXiv 2306.09212), `test/<subject>.csv` with an unnamed index column; the subject is
the file name, and a folder of such files is read whole:

    ,Question,A,B,C,D,Answer
    0,下列哪项是...,甲,乙,丙,丁,B
"""

from __future__ import annotations

from pathlib import Path

from qilin.data.records import DataError
from qilin.eval.benchmarks.raw import RawFile, checked_answer, load_raw, required
from qilin.eval.multiple_choice import ExamQuestion

CMB_GROUPS = ("exam_type", "exam_class", "exam_subject")
CMB_TEST_ANSWERS = "CMB-test-choice-answer.json"
CMB_MULTIPLE = "多项选择题"
CMB_SINGLE = "单项选择题"
CMMLU_LETTERS = "ABCD"


def cmb_answers(path: Path) -> dict[str, str]:
    """id -> answer letters of CMB's published test answers (`CMB-test-choice-answer.json`)."""
    raw = load_raw(path)
    answers = {}
    for where, _, obj in raw.records:
        if not isinstance(obj, dict) or obj.get("id") is None:
            raise DataError(path, where, "field 'id': expected each answer record to name its question's id")
        answers[str(obj["id"])] = required(obj, "answer", path, where)
    return answers


def cmb_questions(raw: RawFile, answers_path: Path | None = None) -> list[ExamQuestion]:
    """CMB-Exam records; a 多项选择题 is scored as multiple-choice even when its answer is one letter.

    Records without an `answer` take it by id from `answers_path`, or from CMB_TEST_ANSWERS beside the file.
    """
    beside = raw.path.parent / CMB_TEST_ANSWERS
    if answers_path is None and beside.is_file() and beside != raw.path:
        answers_path = beside
    joined = cmb_answers(answers_path) if answers_path is not None else {}
    questions = []
    for where, _, obj in raw.records:
        option = required(obj, "option", raw.path, where, dict)
        options = {str(k).strip().upper(): str(v).strip() for k, v in option.items() if str(v).strip()}
        if len(options) < 2:
            raise DataError(raw.path, where, "field 'option': fewer than two non-empty options")
        if obj.get("answer") is None and str(obj.get("id")) in joined:
            obj = {**obj, "answer": joined[str(obj["id"])]}
        elif obj.get("answer") is None:
            raise DataError(
                raw.path,
                where,
                f"field 'answer': missing; CMB's test questions take their answers by id from {CMB_TEST_ANSWERS} "
                + (
                    f"({answers_path} has no id {obj.get('id')!r})"
                    if answers_path
                    else "(give --answers FILE or put it beside the questions)"
                ),
            )
        answer = checked_answer(required(obj, "answer", raw.path, where), options, raw.path, where, "answer")
        kind = str(obj.get("question_type", "")).strip()
        if kind == CMB_SINGLE and len(answer) > 1:
            raise DataError(raw.path, where, f"field 'answer': {''.join(sorted(answer))!r} for a {CMB_SINGLE}")
        questions.append(
            ExamQuestion(
                question=required(obj, "question", raw.path, where),
                options=options,
                answer=answer,
                explanation=str(obj.get("explanation") or "").strip(),
                annotations={g: str(obj[g]).strip() for g in CMB_GROUPS if str(obj.get(g) or "").strip()},
                id=str(obj["id"]) if obj.get("id") is not None else None,
                multiple=kind == CMB_MULTIPLE,
            )
        )
    return questions


def cmmlu_questions(path: Path) -> list[ExamQuestion]:
    """CMMLU questions of one subject CSV, or of every CSV in a folder (subject: the file name)."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise DataError(path, "", "a CMMLU folder must hold one CSV per subject; found none")
    questions = []
    for file in files:
        raw = load_raw(file)
        missing = [c for c in ("Question", *CMMLU_LETTERS, "Answer") if c not in raw.header]
        if missing:
            raise DataError(file, "line 1", f"missing column(s) {', '.join(missing)}; found {raw.header}")
        subject = file.stem
        index = raw.header[0] if raw.header[0] not in ("Question", *CMMLU_LETTERS, "Answer") else None
        for where, _, row in raw.records:
            options = {k: (row[k] or "").strip() for k in CMMLU_LETTERS}
            empty = [k for k, v in options.items() if not v]
            if empty:
                raise DataError(file, where, f"column '{empty[0]}': empty option")
            answer = checked_answer((row["Answer"] or "").strip(), options, file, where, "Answer")
            if len(answer) != 1:
                raise DataError(file, where, f"column 'Answer': CMMLU questions have one answer, got {row['Answer']!r}")
            question = (row["Question"] or "").strip()
            if not question:
                raise DataError(file, where, "column 'Question': is empty")
            row_id = (row.get(index) or "").strip() if index is not None else ""
            questions.append(
                ExamQuestion(
                    question=question,
                    options=options,
                    answer=answer,
                    annotations={"subject": subject},
                    id=f"{subject}/{row_id}" if row_id else None,
                )
            )
    return questions
