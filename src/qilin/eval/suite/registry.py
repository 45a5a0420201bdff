"""One shape for every evaluation: a registered `Benchmark` scores a `Subject` on a `Task` and returns a
`BenchmarkResult` of typed `Metric`s. The report, the plots, the ablation table, McNemar marks and stage gates all
read these results; nothing else names a column.

    register(Benchmark("triage", score=score_triage, default_name="triage"))
    # recipe: eval.benchmarks: [{benchmark: triage, path: data/triage.jsonl}]

A benchmark outside Qilin is named in the recipe by its import path, `package.module:OBJECT` (a `Benchmark`), so
adding one is writing one module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qilin.config import BenchmarkSettings, ConfigError, EvalSettings
from qilin.eval.significance import wilson_interval
from qilin.hashing import digest

# Entry keys every benchmark takes; the others it lists in `Benchmark.keys`.
COMMON_KEYS = frozenset({"benchmark", "path", "name", "limit"})


@dataclass(frozen=True)
class Metric:
    """One figure of a benchmark's result and how the report shows it.

    A proportion (percent of `n` items) carries its per-item `outcomes` ("1"/"0" in item order) and `items` (a
    digest naming the items), from which come its 95% Wilson interval, the McNemar mark against the previous stage
    and the stage gates. Outcomes count the event the value is the percentage of: correct answers for an
    accuracy, unsafe replies for unsafe % (`lower_is_better`).
    """

    value: float
    label: str
    n: int | None = None
    outcomes: str | None = None
    items: str | None = None
    lower_is_better: bool = False
    panel: str = "Accuracy (%)"  # the chart it is drawn in (plot), or only the table
    plot: bool = True
    column: bool = True  # a column of the stage and ablation tables (always in report.json)

    @property
    def proportion(self) -> bool:
        """Whether the value is a percentage of `n` items with per-item outcomes."""
        return self.outcomes is not None and self.n is not None and self.n > 0

    def record(self) -> dict[str, Any]:
        """What the manifest keeps of it (the outcomes go to eval/<stage>.json)."""
        out: dict[str, Any] = {"value": self.value, "label": self.label, "n": self.n, "panel": self.panel}
        out.update(plot=self.plot, column=self.column, lower_is_better=self.lower_is_better)
        if self.proportion:
            out["interval"] = list(wilson_interval(self.outcomes.count("1"), self.n))
        return out


def proportion(label: str, outcomes: list[bool], item_names: list[Any], *, decimals: int = 2, **shown: Any) -> Metric:
    """A percentage metric from per-item events (True: correct, or unsafe for a lower-is-better rate)."""
    if len(outcomes) != len(item_names):
        raise ValueError(f"{len(outcomes)} outcomes for {len(item_names)} items")
    value = round(100 * sum(outcomes) / len(outcomes), decimals) if outcomes else 0.0
    bits = "".join("1" if o else "0" for o in outcomes)
    return Metric(value, label, n=len(outcomes), outcomes=bits, items=digest(item_names), **shown)


@dataclass
class BenchmarkResult:
    """What a benchmark measured on one model: metrics by key (`<name>_<what>`) and notes (an example answer,
    the decoding used, a breakdown) that the report prints but never tabulates."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """What a benchmark scores: a loaded model with its tokenizer (and image processor for a VL model)."""

    model: Any
    tokenizer: Any
    processor: Any = None


@dataclass(frozen=True)
class Task:
    """One recipe entry made ready to score: its metric prefix, its data file, the shared eval settings."""

    entry: BenchmarkSettings
    name: str
    path: Path | None
    settings: EvalSettings
    rag_index: Path | None = None
    dense_index: Path | None = None  # mcq with rag and eval.rag_dense: the dense index whose recall is also recorded

    def key(self, what: str) -> str:
        """The metric key of `what` in this entry: `<name>_<what>`."""
        return f"{self.name}_{what}"


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: its name in recipes, what it needs, the entry keys it takes and how it scores.

    needs: 'model' (a text model; scored on the base model and after the text stages) or 'vl_model' (after the VL
    stages). score(task, subject) reads `task.path` and returns a BenchmarkResult. default_name: the metric prefix
    when the entry gives none (a string, or a function of the entry and its resolved path). locate: turns the
    entry's path into a file itself (safety's 'embedded'); without it the pipeline resolves data paths and
    'embedded:PART'.
    """

    name: str
    score: Callable[[Task, Subject], BenchmarkResult]
    default_name: str | Callable[[BenchmarkSettings, Path | None], str]
    needs: Literal["model", "vl_model"] = "model"
    keys: frozenset[str] = frozenset()
    default_path: str | None = None
    locate: Callable[[str], Path] | None = None

    def name_of(self, entry: BenchmarkSettings, path: Path | None) -> str:
        """The entry's metric prefix."""
        if entry.name:
            return entry.name
        return self.default_name if isinstance(self.default_name, str) else self.default_name(entry, path)


_REGISTRY: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> Benchmark:
    """Make a benchmark available to recipes by its name (a second one of the same name replaces the first)."""
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def get_benchmark(name: str) -> Benchmark:
    """The benchmark an entry names: a registered name, or 'package.module:OBJECT'."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module, _, attribute = name.partition(":")
        try:
            found = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"eval.benchmarks: cannot import {name!r}: {e}") from e
        if not isinstance(found, Benchmark):
            raise ConfigError(f"eval.benchmarks: {name!r} is a {type(found).__name__}, not a Benchmark")
        return found
    raise ConfigError(
        f"eval.benchmarks: unknown benchmark {name!r}; registered: {', '.join(sorted(_REGISTRY))} "
        "(or name your own as 'package.module:OBJECT')"
    )


def check_entry(index: int, entry: BenchmarkSettings) -> Benchmark:
    """The entry's benchmark, after refusing keys it does not take (set to other than their defaults)."""
    benchmark = get_benchmark(entry.benchmark)
    defaults = BenchmarkSettings()
    extra = sorted(
        k for k in vars(entry) if k not in COMMON_KEYS | benchmark.keys and getattr(entry, k) != getattr(defaults, k)
    )
    if extra:
        takes = ", ".join(sorted(COMMON_KEYS | benchmark.keys))
        raise ConfigError(f"eval.benchmarks[{index}].{extra[0]}: benchmark {benchmark.name!r} takes only {takes}")
    if entry.path is None and benchmark.default_path is None:
        raise ConfigError(f"eval.benchmarks[{index}]: benchmark {benchmark.name!r} needs a path")
    return benchmark
