"""CMExam: answer extraction, the multi-answer rule, exact-set accuracy, CSV errors, shared-prefix scoring, few-shot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.data.records import DataError
from qilin.eval.multiple_choice import ExamQuestion, accuracy_table, extract_answer, predict, read_cmexam


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("答案：AC", "AC"),
        ("答案是 B。解释：……", "B"),
        ("答案为A、D", "AD"),
        ("C。因为胸痛持续……", "C"),
        ("(E) 左心功能不全", "E"),
        ("这是心内科的疾病", "B"),  # no letter: the option text named in the reply
        ("我不确定", None),
    ],
)
def test_answer_extraction(reply: str, expected: str | None) -> None:
    options = {"A": "神经内科", "B": "心内科", "C": "急诊科", "D": "眼科", "E": "左心功能不全"}
    got = extract_answer(reply, options)
    assert (None if got is None else "".join(sorted(got))) == expected


def test_loglikelihood_predictions_and_multi_answer_rule() -> None:
    scores = {"A": (-2.0, 4), "B": (-9.0, 3), "C": (-2.5, 10), "D": (-8.0, 2), "E": (-7.0, 2)}
    assert predict(scores, multi=False, normalize=False) == {"A"}
    assert predict(scores, multi=False, normalize=True) == {"C"}  # -0.25 per character beats -0.5
    assert predict(scores, multi=True, normalize=False) == {"A", "C"}  # above the mean of -5.7


def test_accuracy_table_counts_exact_set_matches_only() -> None:
    qs = [
        ExamQuestion("q1", {"A": "a", "B": "b"}, frozenset("A"), annotations={"Type": "x"}),
        ExamQuestion("q2", {"A": "a", "B": "b", "C": "c"}, frozenset("AB"), annotations={"Type": "y"}),
        ExamQuestion("q3", {"A": "a", "B": "b", "C": "c"}, frozenset("AC"), annotations={"Type": "y"}),
    ]
    table = accuracy_table(qs, [frozenset("A"), frozenset("A"), frozenset("AC")])  # a subset is wrong
    assert table["all"] == {"accuracy": 66.67, "n": 3}
    assert table["multi"] == {"accuracy": 50.0, "n": 2} and table["single"] == {"accuracy": 100.0, "n": 1}
    assert table["Type=y"] == {"accuracy": 50.0, "n": 2}


def test_cmexam_csv_errors_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "exam.csv"
    path.write_text('Question,Options,Answer\n问1,"A 甲\nB 乙",A\n问2,"A 甲\nB 乙",F\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"exam\.csv:line 5: column 'Answer': 'F' is not a set of option letters"):
        read_cmexam(path)


def test_shared_prefix_scores_equal_separate_sequences(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qilin.eval.multiple_choice import cloze_context, score_options

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    questions = [
        ExamQuestion("高血压应到哪个科就诊？", {"A": "心内科", "B": "内分泌科", "C": "呼吸内科"}, frozenset("A")),
        ExamQuestion(
            "糖尿病常用什么药？", {"A": "奥美拉唑", "B": "二甲双胍", "C": "沙丁胺醇治疗", "D": "秋"}, frozenset("B")
        ),
    ]
    shared = score_options(model, tok, questions, batch_size=2)
    for q, scores in zip(questions, shared, strict=True):
        ctx = tok(cloze_context(q), add_special_tokens=False)["input_ids"]
        for letter, text in q.options.items():
            whole = tok(cloze_context(q) + text, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logprobs = model(torch.tensor([whole])).logits.log_softmax(-1)[0]
            expected = sum(logprobs[i - 1, whole[i]].item() for i in range(len(ctx), len(whole)))
            assert scores[letter][0] == pytest.approx(expected, abs=1e-4)
            assert scores[letter][1] == len(text)


def test_few_shot_examples_enter_the_prompt_and_generation_mode_runs(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    from qilin.cli import main
    from qilin.eval.multiple_choice import generation_prompt

    exam = tmp_path / "exam.csv"
    rows = ['高血压首选哪个科？,"A 心内科\nB 眼科",A,科室', '糖尿病常用药？,"A 二甲双胍\nB 沙丁胺醇",A,药物']
    exam.write_text("Question,Options,Answer,Type\n" + "\n".join(rows) + "\n", encoding="utf-8")
    shots = read_cmexam(exam)
    prompt = generation_prompt(shots[1], shots[:1])
    assert "高血压首选哪个科？\nA 心内科\nB 眼科\n答案：A" in prompt and prompt.endswith("B 沙丁胺醇\n答案：")
    out_json = tmp_path / "gen.json"
    args = ["eval", "mcq", str(tiny_model_dir), "--data", str(exam), "--mode", "generate", "--shots", "1"]
    assert main([*args, "--dev", str(exam), "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    assert result["acc"]["all"]["n"] == 2 and "Type=科室" in result["acc"]
    assert 0 <= result["extraction_failures"] <= 2
    assert main(["eval", "mcq", str(tiny_model_dir), "--data", str(exam), "--mode", "generate", "--shots", "1"]) == 2
    assert "--shots needs --dev" in capsys.readouterr().err
