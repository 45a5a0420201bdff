"""Every published layout read into the same questions: detection, fields, groups, answers, and bad records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.config import ConfigError
from qilin.data.records import DataError
from qilin.eval.benchmarks import read_benchmark
from tests.eval.benchmarks.layouts import cmb_file, cmmlu_file, medmcqa_file, medqa_file, pubmedqa_file


def test_cmb_json_list_keeps_its_groups_and_its_own_multiple_choice_marks(tmp_path: Path) -> None:
    fmt, qs = read_benchmark(cmb_file(tmp_path / "CMB-val-merge.json"))
    assert fmt == "cmb" and len(qs) == 3
    assert qs[0].options["B"] == "心内科" and qs[0].answer == {"B"} and not qs[0].multiple
    assert qs[1].answer == {"A", "C"} and "E" not in qs[1].options  # an empty option is no option
    assert qs[2].multiple and qs[2].answer == {"D"}  # a 多项选择题 with one right answer is still multiple-choice
    assert qs[0].annotations == {"exam_type": "医师考试", "exam_class": "执业医师", "exam_subject": "临床执业医师"}
    assert qs[0].language == "zh"


def test_cmb_bad_answer_names_the_line_of_its_record(tmp_path: Path) -> None:
    path = cmb_file(tmp_path / "cmb.json")
    path.write_text(path.read_text(encoding="utf-8").replace('"answer": "AC"', '"answer": "AF"'), encoding="utf-8")
    line = next(i for i, t in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if t.strip() == "{" and i > 2)
    with pytest.raises(DataError, match=rf"cmb\.json:line {line}: field 'answer': 'AF' is not a set of option"):
        read_benchmark(path)


def test_medqa_reads_english_and_chinese_questions_with_4_or_5_options(tmp_path: Path) -> None:
    fmt, qs = read_benchmark(medqa_file(tmp_path / "test.jsonl"))
    assert fmt == "medqa"
    assert (len(qs[0].options), qs[0].answer, qs[0].language) == (5, {"D"}, "en")
    assert (len(qs[1].options), qs[1].answer, qs[1].language) == (4, {"A"}, "zh")
    assert qs[0].annotations == {"meta_info": "step2&3"}


def test_medqa_answer_text_must_be_the_option_answer_idx_names(tmp_path: Path) -> None:
    path = medqa_file(tmp_path / "test.jsonl")
    path.write_text(path.read_text(encoding="utf-8").replace('"answer_idx": "A"', '"answer_idx": "B"'))
    with pytest.raises(DataError, match=r"test\.jsonl:line 2: field 'answer': '秋水仙碱' is not option B"):
        read_benchmark(path)


def test_cmmlu_subject_is_the_file_name_and_a_folder_reads_every_subject(tmp_path: Path) -> None:
    cmmlu_file(tmp_path / "clinical_knowledge.csv")
    cmmlu_file(tmp_path / "anatomy.csv")
    fmt, qs = read_benchmark(tmp_path / "anatomy.csv")
    assert fmt == "cmmlu" and [q.answer for q in qs] == [{"A"}, {"B"}]
    assert qs[1].question == "哮喘患者的典型症状是" and qs[1].id == "anatomy/1"
    fmt, qs = read_benchmark(tmp_path)
    assert fmt == "cmmlu" and [q.annotations["subject"] for q in qs] == ["anatomy"] * 2 + ["clinical_knowledge"] * 2


@pytest.mark.parametrize("base", [0, 1])
def test_medmcqa_cop_base_is_read_from_the_files_own_values(tmp_path: Path, base: int, capsys) -> None:
    fmt, qs = read_benchmark(medmcqa_file(tmp_path / "dev.json", base=base))
    assert fmt == "medmcqa"
    assert [q.answer for q in qs] == [{"A"}, {"C"}, {"D"}]  # the same answers under either numbering
    assert qs[1].annotations == {"subject_name": "Pharmacology"} and qs[1].id == "m1"
    assert f"numbered from {base}" in capsys.readouterr().out


def test_medmcqa_without_answers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"test\.json:line 1: field 'cop'.*released without answers"):
        read_benchmark(medmcqa_file(tmp_path / "test.json", answers=False))


def test_pubmedqa_puts_the_abstract_before_the_question(tmp_path: Path) -> None:
    fmt, qs = read_benchmark(pubmedqa_file(tmp_path / "ori_pqal.json"))
    assert fmt == "pubmedqa" and [q.id for q in qs] == ["21645374", "9488747"]
    assert qs[0].question == (
        "Abstract: We enrolled 120 adults. Systolic pressure fell by 8 mmHg.\n"
        "Question: Does exercise lower blood pressure in adults with hypertension?"
    )
    assert qs[0].options == {"A": "yes", "B": "no", "C": "maybe"} and qs[1].answer == {"C"}


def test_pubmedqa_bad_decision_names_the_pmid(tmp_path: Path) -> None:
    path = pubmedqa_file(tmp_path / "ori_pqal.json")
    path.write_text(path.read_text().replace('"maybe"', '"unsure"'))
    with pytest.raises(DataError, match=r"line 1 \(id 9488747\): field 'final_decision'"):
        read_benchmark(path)


def test_generic_csv_and_jsonl_through_named_fields(tmp_path: Path) -> None:
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text("qid,stem,A,B,C,key,dept\n7,高血压挂什么科,眼科,心内科,骨科,B,内科\n", encoding="utf-8")
    fmt, qs = read_benchmark(csv_path, "generic", "question=stem,answer=key,id=qid,groups=dept")
    assert fmt == "generic"
    assert (qs[0].options, qs[0].answer, qs[0].id, qs[0].annotations) == (
        {"A": "眼科", "B": "心内科", "C": "骨科"},
        {"B"},
        "7",
        {"dept": "内科"},
    )
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(json.dumps({"question": "Which?", "options": ["x", "y"], "answer": ["B"]}) + "\n")
    fmt, qs = read_benchmark(jsonl)  # default fields: detected as generic
    assert fmt == "generic" and qs[0].options == {"A": "x", "B": "y"} and qs[0].language == "en"
    with pytest.raises(ConfigError, match="ROLE one of question, options"):
        read_benchmark(csv_path, "generic", "stem")


def test_an_unknown_layout_says_which_formats_exist(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"prompt": "a"}\n')
    with pytest.raises(DataError, match=r"no known benchmark layout fits its fields \['prompt'\]; give --format"):
        read_benchmark(path)


def test_medmcqa_that_cannot_tell_its_numbering_is_refused_naming_the_formats(tmp_path: Path) -> None:
    path = medmcqa_file(tmp_path / "subset.json", base=0)  # cop 0, 2, 3: drop the 0 and a subset says 2, 3
    path.write_text("".join(path.read_text().splitlines(keepends=True)[1:]), encoding="utf-8")
    with pytest.raises(DataError, match=r"no 0 and no 4 occurs.*--format medmcqa-hf \(from 0\).*medmcqa-orig"):
        read_benchmark(path)
    assert [q.answer for q in read_benchmark(path, "medmcqa-hf")[1]] == [{"C"}, {"D"}]
    assert [q.answer for q in read_benchmark(path, "medmcqa-orig")[1]] == [{"B"}, {"C"}]
    with pytest.raises(DataError, match="a 0 occurs, so it is not numbered from 1"):
        read_benchmark(medmcqa_file(tmp_path / "hf.json", base=0), "medmcqa-orig")


def _cmb_test_split(folder: Path) -> Path:
    """CMB's test layout: questions with ids and no answers; answers apart, keyed by id (ids from 1)."""
    folder.mkdir()
    rows = json.loads(cmb_file(folder / "val.json").read_text(encoding="utf-8"))
    answers = [
        {"id": i + 1, "question_type": r["question_type"], "answer": r.pop("answer")} for i, r in enumerate(rows)
    ]
    for i, row in enumerate(rows):
        row["id"] = i + 1
    (folder / "val.json").unlink()
    (folder / "CMB-test-choice-answer.json").write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    questions = folder / "CMB-test-choice-question-merge.json"
    questions.write_text(json.dumps(rows[::-1], ensure_ascii=False, indent=2), encoding="utf-8")  # another order
    return questions


def test_cmb_test_answers_are_joined_by_id(tmp_path: Path) -> None:
    questions = _cmb_test_split(tmp_path / "test")
    fmt, qs = read_benchmark(questions)  # the answers file beside the questions
    assert fmt == "cmb" and {q.id: q.answer for q in qs} == {"1": {"B"}, "2": {"A", "C"}, "3": {"D"}}
    moved = tmp_path / "answers.json"
    (tmp_path / "test" / "CMB-test-choice-answer.json").rename(moved)
    with pytest.raises(DataError, match=r"field 'answer': missing; .*give --answers FILE"):
        read_benchmark(questions)
    assert {q.id: q.answer for q in read_benchmark(questions, answers=moved)[1]}["2"] == {"A", "C"}
