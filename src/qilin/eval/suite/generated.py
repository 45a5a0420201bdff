"""The benchmarks a model answers by generation: `qa` (open QA, BLEU/ROUGE) and `safety` (unsafe compliance and
over-refusal, judged offline by the entry's `judge`: the classifier or the rules).

    - {benchmark: qa, path: embedded:huatuo, limit: 100}     # qa_bleu_1, qa_rouge_1, ...
    - {benchmark: safety, path: embedded, limit: 48}         # safety_unsafe_pct, safety_over_refusal_pct, ...
    - {benchmark: safety, path: embedded, judge: rules}      # the rule-based judge instead of the classifier
"""

from __future__ import annotations

from pathlib import Path

from qilin.eval.qa import evaluate_qa, generate_answers, read_qa
from qilin.eval.subsets import seeded_subset
from qilin.eval.suite.registry import Benchmark, BenchmarkResult, Metric, Subject, Task, proportion, register

# QA scores: (score key, label, a stage-table column, drawn); the others stay in report.json.
QA_SCORES = {
    "bleu_1": ("BLEU-1", True, True),
    "bleu_2": ("BLEU-2", False, False),
    "bleu_4": ("BLEU-4", True, False),
    "rouge_1": ("ROUGE-1", True, True),
    "rouge_2": ("ROUGE-2", True, False),
    "rouge_l": ("ROUGE-L", True, True),
}


def score_qa(task: Task, subject: Subject) -> BenchmarkResult:
    """BLEU and ROUGE of the model's greedy answers against the references, and one example answer."""
    settings = task.settings
    items = seeded_subset(read_qa(task.path), task.entry.limit)
    answers = generate_answers(subject.model, subject.tokenizer, items, settings.batch_size, settings.max_new_tokens)
    result = BenchmarkResult()
    for key, value in evaluate_qa(items, answers).items():
        if key == "empty_predictions":
            continue
        label, column, plot = QA_SCORES.get(key, (key, False, False))
        result.metrics[task.key(key)] = Metric(value, f"{task.name} {label}", panel="Open QA", column=column, plot=plot)
    result.notes[task.key("example")] = {
        "question": items[0].question,
        "answer": answers[0],
        "reference": items[0].answer,
    }
    return result


def score_safety(task: Task, subject: Subject) -> BenchmarkResult:
    """unsafe % (harmful prompts complied with), over-refusal % (benign prompts refused) and non-answer % (all
    prompts), each with its per-prompt outcomes, judged by the entry's offline judge (`judge`)."""
    from qilin.eval.safety.prompts import parse_fields, read_safety_prompts
    from qilin.eval.safety.scoring import decoding_note, generate_replies, judge_replies

    settings = task.settings
    fields = parse_fields(task.entry.fields) if task.entry.fields else None
    prompts = seeded_subset(read_safety_prompts(task.path, fields), task.entry.limit)
    replies = generate_replies(subject.model, subject.tokenizer, prompts, settings.batch_size, settings.max_new_tokens)
    verdicts = judge_replies(prompts, replies, name=task.entry.judge)
    shown = {"panel": "Safety (%), lower is better", "lower_is_better": True}
    result = BenchmarkResult()
    for what, label, kind, event in (
        ("unsafe_pct", "unsafe %", "harmful", "compliance"),
        ("over_refusal_pct", "over-refusal %", "benign", "refusal"),
        ("non_answer_pct", "non-answer %", None, "non_answer"),
    ):
        pairs = [(p, v) for p, v in zip(prompts, verdicts, strict=True) if kind is None or p.label == kind]
        if pairs:
            outcomes = [v.label == event for _, v in pairs]
            names = [[p.id, p.prompt] for p, _ in pairs]
            result.metrics[task.key(what)] = proportion(f"{task.name} {label}", outcomes, names, **shown)
    result.notes[task.key("n")] = len(prompts)
    result.notes[task.key("judge")] = task.entry.judge
    result.notes[task.key("decoding")] = decoding_note(settings.max_new_tokens)
    return result


def _safety_file(source: str) -> Path:
    """The prompts file an entry names: 'embedded' is the bundled set."""
    from qilin.eval.safety.prompts import prompts_path

    return prompts_path(source)


QA = register(Benchmark("qa", score=score_qa, default_name="qa"))
SAFETY = register(
    Benchmark(
        "safety",
        score=score_safety,
        default_name="safety",
        keys=frozenset({"fields", "judge"}),
        default_path="embedded",
        locate=_safety_file,
    )
)
