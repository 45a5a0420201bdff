"""The forgetting check's metrics: general exam accuracy computed exactly as CMExam's, broken down by Domain."""

from pathlib import Path

import torch

from qilin.config import BenchmarkSettings, EvalSettings, ModelSettings
from qilin.eval.forgetting import text_loss
from qilin.eval.multiple_choice import predict, read_cmexam, score_options
from qilin.eval.suite import Subject, Task
from qilin.eval.suite.mcq import score_mcq
from qilin.models.loading import load_model, load_tokenizer

ROWS = [
    ("高血压挂什么科？", ["心内科", "内分泌科", "呼吸内科", "消化内科", "风湿免疫科"], "A", "医学"),
    ("糖尿病挂什么科？", ["心内科", "内分泌科", "呼吸内科", "消化内科", "风湿免疫科"], "B", "医学"),
    ("哮喘挂什么科？", ["心内科", "内分泌科", "呼吸内科", "消化内科", "风湿免疫科"], "C", "医学"),
    ("2加3的结果是多少？", ["4", "5", "6", "7", "8"], "B", "算术"),
    ("3乘3的结果是多少？", ["6", "8", "9", "12", "3"], "C", "算术"),
]


def test_general_accuracy_is_the_share_of_questions_whose_best_option_is_the_answer(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    lines = ["Question,Options,Answer,Explanation,Domain"]
    for question, options, answer, domain in ROWS:
        text = "\n".join(f"{letter} {o}" for letter, o in zip("ABCDE", options, strict=True))
        lines.append(f'{question},"{text}",{answer},{question}{options["ABCDE".index(answer)]}。,{domain}')
    exam = tmp_path / "general.csv"
    exam.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = load_model(tiny_model_dir, ModelSettings()).eval()
    tokenizer = load_tokenizer(tiny_model_dir, ModelSettings())

    questions = read_cmexam(exam)
    entry = BenchmarkSettings(benchmark="mcq", path=str(exam), name="general", loss=True)
    result = score_mcq(Task(entry, "general", exam, EvalSettings(batch_size=2)), Subject(model, tokenizer))

    scores = score_options(model, tokenizer, questions)
    right = [predict(s, False, False) == q.answer for s, q in zip(scores, questions, strict=True)]
    assert result.metrics["general_acc"].n == 5
    assert result.metrics["general_acc"].value == round(100 * sum(right) / 5, 2)
    assert result.metrics["general_acc"].outcomes == "".join("1" if r else "0" for r in right)
    groups = result.notes["general_groups"]
    assert (groups["Domain=医学"]["accuracy"], groups["Domain=算术"]["accuracy"]) == (
        round(100 * sum(right[:3]) / 3, 2),
        round(100 * sum(right[3:]) / 2, 2),
    )
    loss = round(text_loss(model, tokenizer, [q.explanation for q in questions]), 4)
    assert result.metrics["general_loss"].value == loss and result.metrics["general_loss"].n is None


def test_text_loss_is_the_models_own_loss_per_token_whatever_the_batching(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir, ModelSettings()).eval()
    tokenizer = load_tokenizer(tiny_model_dir, ModelSettings())
    texts = ["高血压应到心内科就诊。", "糖尿病患者常见多饮多尿，应到内分泌科就诊，常用二甲双胍治疗。"]
    ids = [torch.tensor([tokenizer(t, add_special_tokens=False)["input_ids"]]) for t in texts]
    with torch.no_grad():  # transformers' own causal-LM loss is a mean over each text's predicted tokens
        sums = [model(input_ids=i, labels=i).loss.item() * (i.shape[1] - 1) for i in ids]
    expected = sum(sums) / sum(i.shape[1] - 1 for i in ids)
    assert abs(text_loss(model, tokenizer, texts, batch_size=2) - expected) < 1e-5  # padded together
    assert abs(text_loss(model, tokenizer, texts, batch_size=1) - expected) < 1e-5  # one by one
