"""The `mcq` benchmark: one multiple-choice file in any published layout (CMExam, CMB, MedQA, CMMLU, MedMCQA,
PubMedQA, generic), scored by option log-likelihood, with or without retrieved passages.

    - {benchmark: mcq, path: embedded:cmexam, limit: 400, detail: true}   # cmexam_acc, cmexam_acc_norm, slices
    - {benchmark: mcq, path: embedded:cmexam, limit: 400, rag: true}      # cmexam_rag_acc, recall, p vs none
    - {benchmark: mcq, path: embedded:general-exam, name: general, loss: true}   # general_acc, general_loss

Metrics (prefix: the entry's name): `acc` and `acc_norm` (lm-evaluation-harness's definitions), and the slices a
file has: `held_out` and `seen` (questions annotated Knowledge=held-out / seen, the embedded exam's diseases
with and without SFT data) and `multi` (multi-answer questions). With `loss`, `loss`: nats per token on the
questions' Explanation texts, the forgetting check's second figure. With `rag`, also `recall_1` and
`recall_<k>` (questions with a passage holding every correct option's text among the first 1 and k retrieved:
whether a miss is the retriever's or the model's; with eval.rag_dense also `recall_dense_1` and `recall_dense_<k>`
of the dense index) and, when an entry without rag scores the same questions,
`p_vs_none`: the exact McNemar p of accuracy with passages against without (`compare_with_retrieval`).
"""

from __future__ import annotations

from pathlib import Path

from qilin.config import BenchmarkSettings
from qilin.eval.benchmarks import read_benchmark
from qilin.eval.benchmarks.detect import detect_format
from qilin.eval.benchmarks.raw import load_raw
from qilin.eval.multiple_choice import (
    ExamQuestion,
    extract_answer,
    generate_exam_replies,
    is_multi,
    loglikelihood_predictions,
)
from qilin.eval.retrieval import holds_answer, retrieve, with_passages
from qilin.eval.significance import mcnemar_p
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
    # named by the question without passages, so that an entry with rag pairs with one without (p_vs_none)
    names = [question_name(q) for q in questions]
    retrieval: dict[str, Metric] = {}
    if entry.rag:
        questions, retrieval = _with_passages(task, questions, names)
    result = BenchmarkResult()
    if entry.mode == "generate":
        replies = generate_exam_replies(subject.model, subject.tokenizer, questions, [], settings.batch_size)
        predictions = {"acc": [extract_answer(r, q.options) for q, r in zip(questions, replies, strict=True)]}
        no_answer = [p is None for p in predictions["acc"]]
        label = f"{task.name} no answer (%)"
        result.metrics[task.key("no_answer")] = proportion(label, no_answer, names, lower_is_better=True, plot=False)
    else:
        predictions = loglikelihood_predictions(subject.model, subject.tokenizer, questions, settings.batch_size)
    correct = {
        name: [p == q.answer for q, p in zip(questions, preds, strict=True)] for name, preds in predictions.items()
    }
    result.metrics[task.key("acc")] = proportion(f"{task.name} acc (%)", correct["acc"], names)
    if "acc_norm" in correct:
        shown = {"column": entry.detail, "plot": False}
        label = f"{task.name} acc_norm (%)"
        result.metrics[task.key("acc_norm")] = proportion(label, correct["acc_norm"], names, **shown)
    for group, suffix, label in SLICES:
        members = [i for i, q in enumerate(questions) if group in _groups(q)]
        if members:
            slice_shown = {"column": entry.detail, "plot": entry.detail and suffix != "multi"}
            outcomes = [correct["acc"][i] for i in members]
            metric = proportion(f"{task.name} {label}", outcomes, [names[i] for i in members], **slice_shown)
            result.metrics[task.key(suffix)] = metric
    result.metrics.update(retrieval)
    table = accuracy_by_group((ok, _groups(q)) for ok, q in zip(correct["acc"], questions, strict=True))
    result.notes[task.key("groups")] = {k: v for k, v in table.items() if k != "all"}
    if entry.loss:
        explanations = [q.explanation for q in questions if q.explanation]
        if explanations:
            from qilin.eval.forgetting import text_loss

            loss = round(text_loss(subject.model, subject.tokenizer, explanations, settings.batch_size), 4)
            result.metrics[task.key("loss")] = Metric(loss, f"loss/{task.name}", panel="Loss", plot=False)
    return result


def _with_passages(
    task: Task, questions: list[ExamQuestion], names: list
) -> tuple[list[ExamQuestion], dict[str, Metric]]:
    """The questions with their top-k passages in front (rag_prompt's format) and the retriever's recall@1 and
    recall@k on them."""
    from qilin.rag.index import load_index

    k = task.settings.rag_top_k
    hits = retrieve(questions, load_index(task.rag_index), k)
    recall = _recall(task, questions, hits, names, "")
    if task.dense_index is not None:  # the same questions, retrieved by the dense index: recall only
        recall |= _recall(task, questions, retrieve(questions, load_index(task.dense_index), k), names, "dense")
    return with_passages(questions, hits), recall


def _recall(task: Task, questions: list[ExamQuestion], hits: list, names: list, kind: str) -> dict[str, Metric]:
    """`recall_<n>` (or `recall_<kind>_<n>`) for n in 1 and k: questions with the answer among the first n hits."""
    recall = {}
    for n in sorted({1, task.settings.rag_top_k}):
        found = [any(holds_answer(p.text, q) for p in top[:n]) for q, top in zip(questions, hits, strict=True)]
        shown = {"panel": "Retrieval recall (%)", "plot": False}
        key, label = (f"recall_{kind}_{n}", f"{kind} recall@{n}") if kind else (f"recall_{n}", f"recall@{n}")
        recall[task.key(key)] = proportion(f"{task.name} {label} (%)", found, names, **shown)
    return recall


def compare_with_retrieval(tasks: list[tuple[Benchmark, Task]], results: dict[str, BenchmarkResult]) -> None:
    """Add `p_vs_none` to each mcq entry with rag: the exact McNemar p of its accuracy against that of an mcq entry
    without rag that scored the same questions (same file, limit and layout), if the recipe has one."""
    without = {}
    for benchmark, task in tasks:
        if benchmark.name == "mcq" and not task.entry.rag:
            acc = results[task.name].metrics.get(task.key("acc"))
            if acc is not None:
                without.setdefault(acc.items, acc)
    for benchmark, task in tasks:
        if benchmark.name != "mcq" or not task.entry.rag:
            continue
        acc = results[task.name].metrics.get(task.key("acc"))
        if acc is None or acc.items not in without:
            continue
        before, after = ([c == "1" for c in m.outcomes] for m in (without[acc.items], acc))
        label = f"{task.name} vs none, p"
        results[task.name].metrics[task.key("p_vs_none")] = Metric(
            round(mcnemar_p(before, after), 4), label, plot=False
        )


MCQ = register(
    Benchmark(
        "mcq",
        score=score_mcq,
        default_name=default_name,
        keys=frozenset({"format", "fields", "answers", "rag", "detail", "loss", "mode"}),
    )
)
