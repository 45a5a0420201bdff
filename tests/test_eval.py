"""Evaluation: BLEU/ROUGE against hand-computed values, answer extraction, CMExam scoring, predictions."""

import json
import math
from pathlib import Path

import pytest

from qilin.data.records import DataError
from qilin.eval.cmexam import ExamQuestion, accuracy_table, extract_answer, predict, read_cmexam
from qilin.eval.qa import QAItem, read_predictions, read_qa
from qilin.eval.textmetrics import corpus_bleu, lcs_length, rouge_l, rouge_n_count, rouge_n_unique, score_answers

REF = ["the", "cat", "sat", "on", "the", "mat"]
HYP = ["the", "cat", "on", "the", "mat"]


def test_bleu_matches_hand_computation() -> None:
    brevity = math.exp(1 - 6 / 5)  # hypothesis 5 tokens, reference 6
    assert corpus_bleu([REF], [HYP], 1) == pytest.approx(100 * brevity)  # all 5 unigrams match
    assert corpus_bleu([REF], [HYP], 2) == pytest.approx(100 * math.sqrt(1 * 3 / 4) * brevity)  # 3 of 4 bigrams
    assert corpus_bleu([REF], [HYP], 4) == 0.0  # "the cat on the" never occurs: no smoothing, BLEU-4 is 0
    # corpus level: counts are summed over pairs before dividing, not averaged per pair
    assert corpus_bleu([REF, ["a", "b"]], [HYP, ["a", "c"]], 1) == pytest.approx(100 * 6 / 7 * math.exp(1 - 8 / 7))


def test_rouge_unique_and_count_variants_match_hand_computation() -> None:
    assert rouge_n_unique(HYP, REF, 1) == pytest.approx(2 * 1 * 0.8 / 1.8, abs=1e-7)  # sets: 4/4 and 4/5
    assert rouge_n_count(HYP, REF, 1) == pytest.approx(10 / 11)  # counts: 5/5 and 5/6
    assert lcs_length(HYP, REF) == 5
    p, r = 1.0, 5 / 6
    beta = p / r
    assert rouge_l(HYP, REF) == pytest.approx((1 + beta**2) * r * p / (r + beta**2 * p))


def test_rouge_on_chinese_characters() -> None:
    hyp, ref = list("高血压高血压"), list("高血压病")
    assert rouge_n_unique(hyp, ref, 1) == pytest.approx(2 * 0.75 / 1.75, abs=1e-7)  # {高血压} vs {高血压病}
    assert rouge_n_count(hyp, ref, 1) == pytest.approx(0.6)  # P 3/6, R 3/4
    assert rouge_n_unique(hyp, ref, 2) == pytest.approx(2 / 3, abs=1e-7)  # {高血,血压,压高} vs {高血,血压,压病}
    assert rouge_n_count(hyp, ref, 2) == pytest.approx(0.5)  # P 2/5, R 2/3


def test_score_answers_on_chinese_text() -> None:
    scores = score_answers(["高血压应到心内科就诊。", ""], ["高血压一般到心内科就诊。", "糖尿病到内分泌科。"])
    # the nmt variant drops the empty answer before averaging; the count variant scores it 0
    assert scores["empty_predictions"] == 1
    hyp, ref = list("高血压应到心内科就诊。"), list("高血压一般到心内科就诊。")  # punctuation is a character too
    assert scores["rouge_1"] == round(100 * rouge_n_unique(hyp, ref, 1), 2)
    assert scores["rouge_1_count"] == round(100 * rouge_n_count(hyp, ref, 1) / 2, 2)
    assert 0 < scores["bleu_1"] < 100 and scores["bleu_4"] >= 0


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


def test_predictions_match_by_id_or_line_and_refuse_a_count_mismatch(tmp_path: Path) -> None:
    data = tmp_path / "test.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": i, "questions": f"问{i}", "answers": [f"答{i}"]}, ensure_ascii=False) + "\n"
            for i in (1, 2)
        )
    )
    items = read_qa(data)
    assert items[0] == QAItem("问1", "答1", "1")
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": 2, "prediction": "二"}\n{"id": 1, "prediction": "一"}\n', encoding="utf-8")
    assert read_predictions(pred, [i.id for i in items]) == ["一", "二"]
    pred.write_text('{"prediction": "一"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="1 predictions for 2 test items"):
        read_predictions(pred, [i.id for i in items])


def test_shared_prefix_scores_equal_separate_sequences(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qilin.eval.cmexam import cloze_context, score_options

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


def test_report_puts_the_papers_numbers_beside_ours_and_draws_the_chart(tmp_path: Path) -> None:
    from qilin.report import write_report

    stages = {
        "base": {"status": "given", "metrics": {"cmexam": 21.0}},
        "cpt": {"status": "complete", "metrics": {"cmexam": 40.5, "steps": 3}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"stages": stages}))
    text = write_report(tmp_path, paper=True).read_text()
    assert "| stage | status | CMExam acc (%) | steps |" in text
    assert "| base | given | 21.0 (paper 33.5) |  |" in text and "| cpt | complete | 40.5 (paper 38.4) | 3 |" in text
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "losses.png").exists()  # no training logs, no empty plot


def test_few_shot_examples_enter_the_prompt_and_generation_mode_runs(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    from qilin.cli import main
    from qilin.eval.cmexam import generation_prompt

    exam = tmp_path / "exam.csv"
    rows = ['高血压首选哪个科？,"A 心内科\nB 眼科",A,科室', '糖尿病常用药？,"A 二甲双胍\nB 沙丁胺醇",A,药物']
    exam.write_text("Question,Options,Answer,Type\n" + "\n".join(rows) + "\n", encoding="utf-8")
    shots = read_cmexam(exam)
    prompt = generation_prompt(shots[1], shots[:1])
    assert "高血压首选哪个科？\nA 心内科\nB 眼科\n答案：A" in prompt and prompt.endswith("B 沙丁胺醇\n答案：")
    out_json = tmp_path / "gen.json"
    args = ["eval", "cmexam", str(tiny_model_dir), "--data", str(exam), "--mode", "generate", "--shots", "1"]
    assert main([*args, "--dev", str(exam), "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    assert result["acc"]["all"]["n"] == 2 and "Type=科室" in result["acc"]
    assert 0 <= result["extraction_failures"] <= 2
    assert main(["eval", "cmexam", str(tiny_model_dir), "--data", str(exam), "--mode", "generate", "--shots", "1"]) == 2
    assert "--shots needs --dev" in capsys.readouterr().err
