"""Exams scored with retrieved passages: rag_prompt's format, recall@k by hand, McNemar on the same questions, and
the suite's index-only slice with and without retrieval."""

from __future__ import annotations

from pathlib import Path

from qilin.config import EvalSettings, ModelSettings
from qilin.eval.cmexam import ExamQuestion, loglikelihood_predictions
from qilin.eval.retrieval import recall_at_k, retrieve, score_with_retrieval, with_passages
from qilin.eval.significance import mcnemar_p
from qilin.eval.suite import evaluate_model
from qilin.models.loading import load_model, load_tokenizer
from qilin.rag.index import Passage, build_index, load_index
from qilin.rag.prompt import rag_prompt
from tests.conftest import DISEASES


def _question(d: str, dep: str, wrong: list[str]) -> ExamQuestion:
    options = dict(zip("ABCD", [dep, *wrong], strict=True))
    return ExamQuestion(f"某患者确诊为{d}，应首先前往哪个科室就诊？", options, frozenset("A"))


def _questions() -> list[ExamQuestion]:
    departments = [dep for _, dep, _, _ in DISEASES]
    return [_question(d, dep, [x for x in departments if x != dep][:3]) for d, dep, _, _ in DISEASES]


def _passage(text: str) -> Passage:
    return Passage(text, 1.0, "corpus", 1)


def test_recall_at_k_counts_a_passage_holding_every_correct_option() -> None:
    a, b = (
        _question("高血压", "心内科", ["骨科", "眼科", "皮肤科"]),
        _question("痛风", "风湿免疫科", ["骨科", "眼科", "儿科"]),
    )
    hits = [
        [_passage("高血压患者常见头晕。"), _passage("高血压应到心内科就诊。")],  # the answer second
        [_passage("痛风，风湿-免疫科。"), _passage("骨科")],  # punctuation does not matter
    ]
    assert recall_at_k([a, b], hits, 1) == 50.0 and recall_at_k([a, b], hits, 2) == 100.0
    assert with_passages([a], hits[:1])[0].question == rag_prompt(a.question, hits[0])


def test_retrieval_scores_are_those_of_the_augmented_exam_with_mcnemar_against_none(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{d}应到{dep}就诊。\n" for d, dep, _, _ in DISEASES), encoding="utf-8")
    retriever = load_index(build_index([corpus], tmp_path / "index"))
    model, tokenizer = (
        load_model(tiny_model_dir, ModelSettings()).eval(),
        load_tokenizer(tiny_model_dir, ModelSettings()),
    )
    questions = _questions()
    without = loglikelihood_predictions(model, tokenizer, questions, 8)["acc"]
    metrics, augmented, predictions = score_with_retrieval(model, tokenizer, questions, without, retriever, 2, 8, "x")
    assert augmented == with_passages(questions, retrieve(questions, retriever, 2))
    assert predictions == loglikelihood_predictions(model, tokenizer, augmented, 8)["acc"]
    right = [[p == q.answer for q, p in zip(questions, preds, strict=True)] for preds in (without, predictions)]
    assert metrics["x_rag"] == round(100 * sum(right[1]) / len(questions), 2)
    assert metrics["x_rag_p"] == round(mcnemar_p(*right), 4)
    for k in (1, 2):  # a hit is the question's own disease sentence, the one passage naming its department
        own = [f"{d}应到{dep}就诊。" for d, dep, _, _ in DISEASES]
        found = [
            any(p.text == o for p in hits[:k]) for o, hits in zip(own, retrieve(questions, retriever, k), strict=True)
        ]
        assert metrics[f"x_recall_bm25_{k}"] == round(100 * sum(found) / len(questions), 2)
    assert metrics["x_recall_bm25_1"] <= metrics["x_recall_bm25_2"]


def test_suite_scores_the_index_only_exam_with_and_without_retrieval(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{d}应到{dep}就诊。\n" for d, dep, _, _ in DISEASES), encoding="utf-8")
    exam = tmp_path / "index_only.csv"
    rows = ["Question,Options,Answer"] + [
        f'{q.question},"{chr(10).join(f"{k} {v}" for k, v in q.options.items())}",A' for q in _questions()
    ]
    exam.write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = {"index_only": exam, "rag": build_index([corpus], tmp_path / "index")}
    metrics = evaluate_model(tiny_model_dir, EvalSettings(rag_top_k=2, batch_size=8), ModelSettings(), data)
    assert metrics["index_only_n"] == len(DISEASES) and metrics["index_only_recall_bm25_2"] > 0
    assert {"index_only", "index_only_rag", "index_only_rag_p"} <= set(metrics)
    assert set(metrics["per_question"]) == {"index_only", "index_only_rag"}
