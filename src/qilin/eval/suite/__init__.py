"""The evaluation suite: registered benchmarks, each scoring a model and returning typed metrics.

    from qilin.eval.suite import Benchmark, register, score_tasks
    results = score_tasks(model_dir, tasks, model_settings)   # {entry name: BenchmarkResult}

Built in: `mcq` (every multiple-choice layout, CMExam included, optionally with retrieved passages), `qa`,
`safety`, `vqa`. Public names below; the modules may change.
"""

from qilin.eval.suite import generated, mcq, vqa
from qilin.eval.suite.registry import (
    Benchmark,
    BenchmarkResult,
    Metric,
    Subject,
    Task,
    check_entry,
    get_benchmark,
    proportion,
    register,
)
from qilin.eval.suite.scoring import check_benchmarks, load_subject, score_tasks

BUILT_IN = (mcq.MCQ, generated.QA, generated.SAFETY, vqa.VQA)

__all__ = [
    "BUILT_IN",
    "Benchmark",
    "BenchmarkResult",
    "Metric",
    "Subject",
    "Task",
    "check_benchmarks",
    "check_entry",
    "get_benchmark",
    "load_subject",
    "proportion",
    "register",
    "score_tasks",
]
