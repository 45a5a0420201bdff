"""Verifiable problems: the builder (knowledge and exam sources, evaluation items dropped), the reader, the CLI."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from qilin.chimed.knowledge import load_kb
from qilin.cli import main
from qilin.data.records import DataError
from qilin.embedded.chimed import build_embedded
from qilin.eval.multiple_choice import ExamQuestion, extract_answer, read_cmexam
from qilin.rl.problem_builder import (
    FORMAT_SFT_PROBLEMS,
    build_embedded_problems,
    build_problems,
    exam_format_conversation,
    knowledge_problems,
)
from qilin.rl.problems import grpo_rows, read_problems


def test_knowledge_problems_ask_every_fact_under_several_phrasings() -> None:
    kb = load_kb()
    problems = knowledge_problems(kb[:1], kb)
    d = kb[0]
    department = [q for q in problems if q.annotations["kind"] == "department"]
    assert len(department) == 2 and len({q.question for q in department}) == 2  # two phrasings of one fact
    for q in department:
        assert [q.options[k] for k in q.answer] == [d.department]
        assert len(q.options) == 5 and len(set(q.options.values())) == 5
    treatments = [q for q in problems if q.annotations["kind"] == "treatments"]
    assert len(treatments) == 2 * len(d.treatments)
    for q in problems:  # distractors are never facts of the disease asked about
        rel = q.annotations["kind"].removeprefix("multi_")
        if rel in ("department", "treatments", "symptoms"):
            wrong = {v for k, v in q.options.items() if k not in q.answer}
            assert not wrong & set(d.facts(rel))
    multi = [q for q in problems if q.multiple]
    assert multi and all(len(q.answer) in (2, 3) for q in multi)


def _question(stem: str, answer: str = "A") -> ExamQuestion:
    return ExamQuestion(stem, {"A": "心内科", "B": "骨科", "C": "眼科"}, frozenset(answer))


def test_build_drops_near_duplicates_of_evaluation_items_with_counts(tmp_path: Path) -> None:
    exam = "某患者确诊为高血压，应首先前往哪个科室就诊？"
    sources = [
        ("exam-train", [_question("某患者确诊为高血压，应首先前往哪个科室就诊"), _question("糖尿病属于哪个系统？")]),
        ("kb", [_question("诊治冠心病的科室是"), _question("糖尿病属于哪个系统？"), _question("确诊为高血压")]),
    ]
    report = build_problems(sources, [exam, "不相关的题目：骨折如何固定？"], tmp_path)
    assert report["per_source"]["exam-train"] == {"kept": 1, "near_duplicate_of_evaluation": 1, "repeated": 0}
    # "确诊为高血压" is inside the exam item (exact, normalized); the repeated problem trains once
    assert report["per_source"]["kb"] == {"kept": 1, "near_duplicate_of_evaluation": 1, "repeated": 1}
    problems = read_problems(tmp_path / "problems.jsonl")
    assert [q.question for q in problems] == ["糖尿病属于哪个系统？", "诊治冠心病的科室是"]
    assert problems[0].annotations == {"source": "exam-train"}


def test_embedded_problems_leave_out_the_held_out_diseases_and_the_exam(tmp_path: Path) -> None:
    paths = build_embedded(tmp_path / "data")
    parts = build_embedded_problems(tmp_path / "data", paths, tmp_path / "problems")
    problems = read_problems(parts["problems"])
    held_out = json.loads((tmp_path / "data" / "build_report.json").read_text())["held_out_diseases"]
    assert held_out and not [q for q in problems if any(d in q.question for d in held_out)]
    exam = {q.question for q in read_cmexam(paths["cmexam"])}
    assert not exam & {q.question for q in problems}
    report = json.loads((tmp_path / "problems" / "problems_report.json").read_text())
    assert report["problems"] == len(problems) > 1000
    # the exam-format SFT conversations: problems GRPO never sees, none from the exam or a held-out disease
    taught = [json.loads(line)["messages"] for line in parts["problems-sft"].read_text().splitlines()]
    assert len(taught) == report["taught_in_sft"] == FORMAT_SFT_PROBLEMS
    stems = [m[0]["content"].split("\n\n", 1)[1].split("\n", 1)[0] for m in taught]
    options = [m[0]["content"].split("\n")[3:-1] for m in taught]
    grpo = {(q.question, tuple(sorted(q.options.values()))) for q in problems}
    assert not grpo & {
        (s, tuple(sorted(o.split(" ", 1)[1] for o in opts))) for s, opts in zip(stems, options, strict=True)
    }
    assert not exam & set(stems) and not [s for s in stems if any(d in s for d in held_out)]
    # the right option's position balanced as in GRPO, so SFT teaches no letter habit
    right = [
        next(o[0] for o in opts if o[2:] == m[1]["content"])
        for m, opts in zip(taught, options, strict=True)
        if "、" not in m[1]["content"]
    ]
    single = Counter(right)
    assert set(single) == set("ABCDE") and max(single.values()) - min(single.values()) <= 1


def test_exam_format_conversation_answers_with_the_right_options_text() -> None:
    q = ExamQuestion("糖尿病的症状有哪些？（多选）", {"A": "多饮", "B": "咳嗽", "C": "多尿"}, frozenset("AC"))
    user, reply = exam_format_conversation(q)["messages"]
    assert user["content"].endswith("糖尿病的症状有哪些？（多选）\nA 多饮\nB 咳嗽\nC 多尿\n答案：")
    assert reply == {"role": "assistant", "content": "多饮、多尿"}
    assert extract_answer(reply["content"], q.options) == q.answer  # the reward's extraction reads it as right


def test_reader_names_the_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    good = {"question": "诊治高血压的科室是", "options": {"A": "心内科", "B": "骨科"}, "answer": "A"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "answer": "C"}) + "\n")
    with pytest.raises(DataError, match=r"line 2: field 'answer': 'C' is not a set of option letters AB"):
        read_problems(path)
    rows = grpo_rows([_question("诊治高血压的科室是")], "cloze")
    assert rows == [
        {"prompt": "诊治高血压的科室是\n答案：", "options": '{"A": "心内科", "B": "骨科", "C": "眼科"}', "answer": "A"}
    ]


def test_cli_builds_from_an_exam_train_split_and_the_knowledge_base(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    with train.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Question", "Options", "Answer"])
        writer.writerow(["下列哪项是高血压的首选检查？", "A 血压测量\nB 胃镜\nC 骨密度", "A"])
        writer.writerow(["某患者确诊为高血压，应首先前往哪个科室就诊？", "A 心内科\nB 骨科", "A"])
    test = tmp_path / "test.csv"
    with test.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Question", "Options", "Answer"])
        writer.writerow(["某患者确诊为高血压，应首先前往哪个科室就诊？", "A 心内科\nB 骨科", "A"])
    kb = load_kb()
    skip = [d.name for d in kb[1:]]
    args = ["data", "problems", "--out", str(tmp_path / "out"), "--mcq", str(train), "--eval", str(test)]
    assert main([*args, "--exclude-diseases", *skip]) == 0
    report = json.loads((tmp_path / "out" / "problems_report.json").read_text())
    assert report["per_source"]["cmexam:train.csv"] == {"kept": 1, "near_duplicate_of_evaluation": 1, "repeated": 0}
    assert report["per_source"]["kb"]["kept"] == len(knowledge_problems(kb[:1], kb))
