"""Scoring a model on a list of tasks: load it once for what the tasks need, run each benchmark in turn."""

from __future__ import annotations

from pathlib import Path

from qilin.config import ConfigError, EvalSettings, ModelSettings
from qilin.eval.suite.mcq import compare_with_retrieval
from qilin.eval.suite.registry import Benchmark, BenchmarkResult, Subject, Task, check_entry
from qilin.log import get_logger

log = get_logger(__name__)


def check_benchmarks(settings: EvalSettings) -> list[Benchmark]:
    """The benchmark of every entry of `eval.benchmarks`, refusing unknown benchmarks and keys they do not take."""
    return [check_entry(i, entry) for i, entry in enumerate(settings.benchmarks)]


def check_names(tasks: list[tuple[Benchmark, Task]]) -> None:
    """Refuse two entries with one metric prefix: their metrics would overwrite each other."""
    seen: dict[str, int] = {}
    for i, (_, task) in enumerate(tasks):
        if task.name in seen:
            raise ConfigError(
                f"eval.benchmarks: entries {seen[task.name]} and {i} both have the name {task.name!r}; "
                "give one of them its own `name`"
            )
        seen[task.name] = i


def load_subject(model_dir: Path, needs: str, model_settings: ModelSettings) -> Subject:
    """A model loaded for scoring: 'model' (causal LM and tokenizer) or 'vl_model' (with its image processor)."""
    from qilin.models.loading import for_inference, load_model, load_tokenizer

    if needs == "vl_model":
        from qilin.models.vision import load_vl_model

        model, tokenizer, processor = load_vl_model(model_dir, model_settings)
        return Subject(for_inference(model), tokenizer, processor)
    return Subject(for_inference(load_model(model_dir, model_settings)), load_tokenizer(model_dir, model_settings))


def score_tasks(
    model_dir: Path, tasks: list[tuple[Benchmark, Task]], model_settings: ModelSettings
) -> dict[str, BenchmarkResult]:
    """{task name: result} of one model directory on every task, in order; the model is loaded once per kind."""
    check_names(tasks)
    subjects: dict[str, Subject] = {}
    results = {}
    for benchmark, task in tasks:
        if benchmark.needs not in subjects:
            subjects[benchmark.needs] = load_subject(model_dir, benchmark.needs, model_settings)
        log.info(f"{task.name}: {benchmark.name} on {task.path}")
        results[task.name] = benchmark.score(task, subjects[benchmark.needs])
    compare_with_retrieval(tasks, results)
    return results
