"""The `vqa` benchmark: PMC-VQA-style multiple choice about images, scored on VL models after the VL stages.

- {benchmark: vqa, path: embedded:vqa-test, limit: 400}   # vqa_acc, vqa_generate, vqa_<Type>, vqa_open_recall
"""

from __future__ import annotations

from qilin.eval.suite.registry import Benchmark, BenchmarkResult, Metric, Subject, Task, proportion, register


def score_vqa(task: Task, subject: Subject) -> BenchmarkResult:
    """Accuracy by option log-likelihood and by generation, per question Type, and open-ended recall."""
    from qilin.eval.vqa import evaluate_vqa, load_questions

    questions = load_questions(task.path, task.entry.images, task.entry.limit)
    scores = evaluate_vqa(subject.model, subject.tokenizer, subject.processor, questions, task.settings.batch_size)
    names = [[str(q.image.name), q.question, q.choices, q.answer] for q in questions]
    correct = scores["correct"]
    panel = {"panel": "VQA accuracy (%)"}
    result = BenchmarkResult()
    result.metrics[task.key("acc")] = proportion(f"{task.name} acc (%)", correct["loglik"], names, **panel)
    result.metrics[task.key("generate")] = proportion(
        f"{task.name} acc, generated (%)", correct["generate"], names, **panel
    )
    for kind in sorted({q.annotations.get("Type", "") for q in questions} - {""}):
        members = [i for i, q in enumerate(questions) if q.annotations.get("Type") == kind]
        outcomes = [correct["loglik"][i] for i in members]
        metric = proportion(f"{task.name} {kind}", outcomes, [names[i] for i in members], plot=False, **panel)
        result.metrics[task.key(kind)] = metric
    result.metrics[task.key("open_recall")] = Metric(
        scores["open_recall"], f"{task.name} open recall (%)", column=False, plot=False
    )
    return result


VQA = register(Benchmark("vqa", score=score_vqa, default_name="vqa", needs="vl_model", keys=frozenset({"images"})))
