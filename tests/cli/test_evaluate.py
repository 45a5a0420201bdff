"""`qilin eval mcq`: published layouts scored through CMExam's scorer, intervals printed, lm-eval export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.cli import main
from qilin.eval.benchmarks import read_benchmark
from qilin.eval.multiple_choice import evaluate_loglikelihood, extract_answer, generation_prompt
from qilin.eval.significance import wilson_interval
from tests.conftest import write_jsonl
from tests.eval.benchmarks.layouts import cmb_file, medqa_file


def test_mcq_scores_saved_predictions_with_intervals_per_group(tmp_path: Path, capsys) -> None:
    data = medqa_file(tmp_path / "test.jsonl")
    preds = write_jsonl(tmp_path / "preds.jsonl", [{"prediction": "The answer is D."}, {"prediction": "答案：B"}])
    out = tmp_path / "tables.json"
    assert main(["eval", "mcq", "--data", str(data), "--predictions", str(preds), "--json", str(out)]) == 0
    acc = json.loads(out.read_text())["acc"]
    assert acc["all"] == {"accuracy": 50.0, "n": 2, "ci95": list(wilson_interval(1, 2))}
    assert acc["meta_info=step2&3"]["accuracy"] == 100.0 and acc["meta_info=第三部分　临床医学综合"]["accuracy"] == 0.0
    low, high = wilson_interval(1, 2)
    printed = capsys.readouterr().out
    assert "read as medqa" in printed and f" 50.00 [{low:5.1f}, {high:5.1f}]  (n=2)" in printed


def test_mcq_loglik_is_cmexams_scorer_on_the_read_questions(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = cmb_file(tmp_path / "cmb.json")
    out = tmp_path / "tables.json"
    assert main(["eval", "mcq", str(tiny_model_dir), "--data", str(data), "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    expected = evaluate_loglikelihood(model, AutoTokenizer.from_pretrained(tiny_model_dir), read_benchmark(data)[1])
    for metric in ("acc", "acc_norm"):
        assert {g: r["accuracy"] for g, r in got[metric].items()} == {
            g: r["accuracy"] for g, r in expected[metric].items()
        }
    assert got["acc"]["multi"]["n"] == 2  # the 多项选择题 with one right answer counts as multiple-choice
    assert got["acc"]["exam_type=护理考试"]["n"] == 2


def test_english_questions_get_english_cues_and_answers_are_extracted(tmp_path: Path) -> None:
    _, (q, _) = read_benchmark(medqa_file(tmp_path / "test.jsonl"))
    prompt = generation_prompt(q, [])
    assert prompt.startswith("The following are multiple-choice questions") and prompt.endswith("E None\nAnswer:")
    assert extract_answer("The answer is (D) Nitrofurantoin", q.options) == {"D"}
    assert extract_answer("Answer: B", q.options) == {"B"}
    assert extract_answer("answer: a drug", q.options) is None  # a lowercase word is no letter


def test_mcq_exports_an_lm_eval_task_per_layout(tmp_path: Path) -> None:
    data = medqa_file(tmp_path / "test.jsonl")
    assert main(["eval", "mcq", "--data", str(data), "--export-lm-eval", str(tmp_path / "task")]) == 0
    task = (tmp_path / "task" / "qilin_medqa.yaml").read_text()
    assert "task: qilin_medqa" in task and str((tmp_path / "task" / "qilin_medqa.jsonl").resolve()) in task
    docs = [json.loads(line) for line in (tmp_path / "task" / "qilin_medqa.jsonl").read_text().splitlines()]
    assert docs[0]["context"].endswith("Which drug is best?\nAnswer:") and docs[0]["gold"] == [3]
    assert docs[0]["choices"][3] == " Nitrofurantoin"  # the space after "Answer:" moved onto the option
    assert docs[1]["context"].endswith("痛风急性发作首选\n答案：") and docs[1]["choices"][0] == "秋水仙碱"


def test_the_eval_commands_import_no_other_command_module_back() -> None:
    """evaluate.py adds eval_safety's verb; eval_safety imports no CLI module (the cycle they had is gone), and
    each exposes add_parser and run."""
    import ast

    from qilin.cli import eval_safety, evaluate

    for module in (evaluate, eval_safety):
        assert callable(module.add_parser) and callable(module.run)
    tree = ast.parse(Path(eval_safety.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in imported if m.startswith("qilin.cli")}


def test_eval_mcq_scores_a_cmexam_csv_and_there_is_no_separate_cmexam_verb(tmp_path: Path, capsys) -> None:
    exam = tmp_path / "exam.csv"
    exam.write_text('Question,Options,Answer\n高血压挂哪个科,"A 心内科\nB 眼科",A\n', encoding="utf-8")
    preds = write_jsonl(tmp_path / "preds.jsonl", [{"prediction": "答案：A"}])
    assert main(["eval", "mcq", "--data", str(exam), "--predictions", str(preds)]) == 0
    assert "read as cmexam" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["eval", "cmexam", "--data", str(exam)])
    assert e.value.code == 2 and "invalid choice: 'cmexam'" in capsys.readouterr().err
