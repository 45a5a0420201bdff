"""Exams scored with retrieved passages: rag_prompt's format, recall@k by hand, and the mcq benchmark with rag:
accuracy on the augmented exam, recall@1/@k, McNemar against the plain entry on the same questions."""

from __future__ import annotations

from pathlib import Path

from qilin.config import BenchmarkSettings, EvalSettings, ModelSettings
from qilin.eval.multiple_choice import ExamQuestion, loglikelihood_predictions
from qilin.eval.retrieval import recall_at_k, retrieve, with_passages
from qilin.eval.significance import mcnemar_p
from qilin.eval.suite import Task, score_tasks
from qilin.eval.suite.mcq import MCQ
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


def _exam(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{d}应到{dep}就诊。\n" for d, dep, _, _ in DISEASES), encoding="utf-8")
    exam = tmp_path / "exam.csv"
    rows = ["Question,Options,Answer"] + [
        f'{q.question},"{chr(10).join(f"{k} {v}" for k, v in q.options.items())}",A' for q in _questions()
    ]
    exam.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return exam, build_index([corpus], tmp_path / "index")


def test_mcq_with_rag_scores_the_augmented_exam_with_recall_and_mcnemar_against_none(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    exam, index = _exam(tmp_path)
    settings = EvalSettings(rag_top_k=2, batch_size=8)
    tasks = [
        (MCQ, Task(BenchmarkSettings(benchmark="mcq", path=str(exam)), "x", exam, settings)),
        (MCQ, Task(BenchmarkSettings(benchmark="mcq", path=str(exam), rag=True), "x_rag", exam, settings, index)),
    ]
    results = score_tasks(tiny_model_dir, tasks, ModelSettings())
    model, tokenizer = (
        load_model(tiny_model_dir, ModelSettings()).eval(),
        load_tokenizer(tiny_model_dir, ModelSettings()),
    )
    questions = _questions()
    retriever = load_index(index)
    augmented = with_passages(questions, retrieve(questions, retriever, 2))
    right = [
        [
            p == q.answer
            for q, p in zip(questions, loglikelihood_predictions(model, tokenizer, qs, 8)["acc"], strict=True)
        ]
        for qs in (questions, augmented)
    ]
    without, rag = results["x"].metrics, results["x_rag"].metrics
    assert without["x_acc"].value == round(100 * sum(right[0]) / len(questions), 2)
    assert rag["x_rag_acc"].value == round(100 * sum(right[1]) / len(questions), 2)
    assert rag["x_rag_acc"].items == without["x_acc"].items  # the same questions, paired
    assert rag["x_rag_p_vs_none"].value == round(mcnemar_p(*right), 4)
    assert "x_p_vs_none" not in without and "x_recall_1" not in without
    own = [f"{d}应到{dep}就诊。" for d, dep, _, _ in DISEASES]
    for k in (1, 2):  # a hit is the question's own disease sentence, the one passage naming its department
        hits = retrieve(questions, retriever, k)
        found = [any(p.text == o for p in top[:k]) for o, top in zip(own, hits, strict=True)]
        assert rag[f"x_rag_recall_{k}"].value == round(100 * sum(found) / len(questions), 2)
        assert rag[f"x_rag_recall_{k}"].n == len(questions)
    assert rag["x_rag_recall_1"].value <= rag["x_rag_recall_2"].value


def test_rag_entry_without_a_matching_plain_entry_gets_no_p_value(tiny_model_dir: Path, tmp_path: Path) -> None:
    exam, index = _exam(tmp_path)
    settings = EvalSettings(rag_top_k=2, batch_size=8)
    entry = BenchmarkSettings(benchmark="mcq", path=str(exam), rag=True, limit=3)
    plain = BenchmarkSettings(benchmark="mcq", path=str(exam))  # all questions: not the same items as limit 5
    tasks = [(MCQ, Task(plain, "x", exam, settings)), (MCQ, Task(entry, "x_rag", exam, settings, index))]
    results = score_tasks(tiny_model_dir, tasks, ModelSettings())
    assert results["x_rag"].metrics["x_rag_acc"].n == 3 and "x_rag_p_vs_none" not in results["x_rag"].metrics


def test_rag_dense_records_the_dense_index_recall_beside_bm25(tiny_model_dir: Path, tmp_path: Path) -> None:
    exam, index = _exam(tmp_path)
    corpus = tmp_path / "corpus.txt"
    dense = build_index([corpus], tmp_path / "dense", kind="dense", embedding_model=tiny_model_dir)
    settings = EvalSettings(rag_top_k=2, batch_size=8)
    entry = BenchmarkSettings(benchmark="mcq", path=str(exam), rag=True)
    both = score_tasks(tiny_model_dir, [(MCQ, Task(entry, "x_rag", exam, settings, index, dense))], ModelSettings())
    bm25 = score_tasks(tiny_model_dir, [(MCQ, Task(entry, "x_rag", exam, settings, index))], ModelSettings())
    metrics, plain = both["x_rag"].metrics, bm25["x_rag"].metrics
    questions = _questions()
    for k in (1, 2):
        expected = recall_at_k(questions, retrieve(questions, load_index(dense), k), k)
        assert metrics[f"x_rag_recall_dense_{k}"].value == expected
        assert metrics[f"x_rag_recall_dense_{k}"].label == f"x_rag dense recall@{k} (%)"
        assert metrics[f"x_rag_recall_{k}"].value == plain[f"x_rag_recall_{k}"].value  # BM25's, unchanged
    assert metrics["x_rag_acc"].value == plain["x_rag_acc"].value  # the passages in front stay BM25's
    assert "x_rag_recall_dense_1" not in plain
