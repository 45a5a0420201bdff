"""The `mcq` benchmark: one multiple-choice file in any published layout (CMExam, CMB, MedQA, CMMLU, MedMCQA,
PubMedQA, generic), scored by option log-likelihood, with or without retrieved passages.

    - {benchmark: mcq, path: embedded:cmexam, limit: 400, detail: true}   # cmexam_acc, cmexam_acc_norm, slices
    - {benchmark: mcq, path: embedded:cmexam, limit: 400, rag: true}      # cmexam_rag_acc
    - {benchmark: mcq, path: embedded:general-exam, name: general, loss: true}   # general_acc, general_loss

Metrics (prefix: the entry's name): `acc` and `acc_norm` (lm-evaluation-harness's definitions), and the slices a
file has: `held_out` and `seen` (questions annotated Knowledge=held-out / seen, the embedded exam's diseases
with and without SFT data) and `multi` (multi-answer questions). With `loss`, `loss`: nats per token on the
questions' Explanation texts, the forgetting check's second figure.
"""

from __future__ import annotations

from pathlib import Path

from qilin.config import BenchmarkSettings
from qilin.eval.benchmarks import read_benchmark
from qilin.eval.benchmarks.detect import detect_format
from qilin.eval.benchmarks.raw import load_raw
from qilin.eval.multiple_choice import ExamQuestion, is_multi, loglikelihood_predictions, with_retrieved_passages
from qilin.eval.subsets import seeded_subset
from qilin.eval.suite.registry import Benchmark, BenchmarkResult, Metric, Subject, Task, proportion, register
from qilin.eval.tables import accuracy_by_group

# The question groups reported as slices: (group in the accuracy table, metric suffix, label).
SLICES = (
    ("Knowledge=held-out", "held_out", "held-out"),
    ("Knowledge=seen", "seen", "seen in SFT"),
    ("multi", "multi", "multi-answer"),
)


def layout(entry: BenchmarkSettings, path: Path | None) -> str:
    """The entry's layout: its `format`, or the one detected from the file (as `qilin eval mcq` detects it)."""
    if entry.format != "auto" or path is None:
        return entry.format
    return "cmmlu" if path.is_dir() else detect_format(path, load_raw(path))


def default_name(entry: BenchmarkSettings, path: Path | None) -> str:
    """The layout's name, with '_rag' for the retrieval-augmented variant."""
    return layout(entry, path).replace("-", "_") + ("_rag" if entry.rag else "")


def question_name(q: ExamQuestion) -> list:
    """What identifies a question for the paired tests: its text, options and answer."""
    return [q.question, q.options, sorted(q.answer)]


def _groups(q: ExamQuestion) -> list[str]:
    return ["all", "multi" if is_multi(q) else "single", *(f"{c}={v}" for c, v in q.annotations.items())]


def score_mcq(task: Task, subject: Subject) -> BenchmarkResult:
    """acc, acc_norm, the slices, and optionally the loss on Explanation texts of one model on the file."""
    entry, settings = task.entry, task.settings
    questions = read_benchmark(task.path, entry.format, entry.fields, entry.answers)[1]
    questions = seeded_subset(questions, entry.limit)
    if entry.rag:
        from qilin.rag.index import load_index

        questions = with_retrieved_passages(questions, load_index(task.rag_index), settings.rag_top_k)
    predictions = loglikelihood_predictions(subject.model, subject.tokenizer, questions, settings.batch_size)
    correct = {
        name: [p == q.answer for q, p in zip(questions, preds, strict=True)] for name, preds in predictions.items()
    }
    names = [question_name(q) for q in questions]
    result = BenchmarkResult()
    result.metrics[task.key("acc")] = proportion(f"{task.name} acc (%)", correct["acc"], names)
    shown = {"column": entry.detail, "plot": False}
    result.metrics[task.key("acc_norm")] = proportion(f"{task.name} acc_norm (%)", correct["acc_norm"], names, **shown)
    for group, suffix, label in SLICES:
        members = [i for i, q in enumerate(questions) if group in _groups(q)]
        if members:
            slice_shown = {"column": entry.detail, "plot": entry.detail and suffix != "multi"}
            outcomes = [correct["acc"][i] for i in members]
            metric = proportion(f"{task.name} {label}", outcomes, [names[i] for i in members], **slice_shown)
            result.metrics[task.key(suffix)] = metric
    table = accuracy_by_group((ok, _groups(q)) for ok, q in zip(correct["acc"], questions, strict=True))
    result.notes[task.key("groups")] = {k: v for k, v in table.items() if k != "all"}
    if entry.loss:
        explanations = [q.explanation for q in questions if q.explanation]
        if explanations:
            from qilin.eval.forgetting import text_loss

            loss = round(text_loss(subject.model, subject.tokenizer, explanations, settings.batch_size), 4)
            result.metrics[task.key("loss")] = Metric(loss, f"loss/{task.name}", panel="Loss", plot=False)
    return result


MCQ = register(
    Benchmark(
        "mcq",
        score=score_mcq,
        default_name=default_name,
        keys=frozenset({"format", "fields", "answers", "rag", "detail", "loss"}),
    )
)
