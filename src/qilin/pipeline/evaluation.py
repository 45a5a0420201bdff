"""The recipe's evaluation hook: score the base model and every stage's output, once per model and settings.

What a stage's record holds is exactly what the current recipe measured: each evaluation replaces the stage's
`evaluation` (metric records), `evaluation_notes` and its per-item outcomes (`eval/<stage>.json`) whole, and a
stage the recipe evaluates with nothing keeps none of them.
"""

from __future__ import annotations

import json
from pathlib import Path

from qilin.config import VL_STAGES, Recipe, to_dict
from qilin.durable import write_atomic
from qilin.hashing import digest, file_sha256
from qilin.log import get_logger
from qilin.pipeline.inputs import rag_index, resolve_data
from qilin.pipeline.manifest import Manifest, outcomes_path

log = get_logger(__name__)


def eval_data_hash(path: Path, is_index: bool = False) -> str:
    """The content an evaluation depends on: a file's bytes, or for the RAG index its passages' texts only.

    Passages name their source file, whose path holds the run directory: without this, the same stage output
    restored into an ablation variant's directory would be evaluated again for nothing.
    """
    if path.is_dir() and not is_index:
        return digest({str(p.relative_to(path)): file_sha256(p) for p in sorted(path.rglob("*")) if p.is_file()})
    if not is_index:
        return file_sha256(path)
    with open(path / "passages.jsonl", encoding="utf-8") as lines:
        return digest([json.loads(line)["text"] for line in lines])


def stage_tasks(name: str, recipe: Recipe, run_dir: Path) -> list:
    """(benchmark, task) of every recipe entry scored at this stage: model benchmarks on the base model and text
    stages, vl_model benchmarks after the VL stages."""
    from qilin.eval.suite import Task, check_benchmarks

    needs = "vl_model" if name in VL_STAGES else "model"
    index = dense = None
    tasks = []
    for entry, benchmark in zip(recipe.eval.benchmarks, check_benchmarks(recipe.eval), strict=True):
        if benchmark.needs != needs:
            continue
        source = entry.path or benchmark.default_path
        path = benchmark.locate(source) if benchmark.locate else resolve_data([source], run_dir, recipe)[0]
        if entry.rag and index is None:
            if not recipe.eval.rag:
                raise ValueError("eval.benchmarks: an entry has rag: true but eval.rag lists no corpus to index")
            index = rag_index(recipe, run_dir)
            dense = _dense_index(recipe, run_dir, name)
        task_name = benchmark.name_of(entry, path)
        indexes = (index, dense) if entry.rag else (None, None)
        tasks.append((benchmark, Task(entry, task_name, path, recipe.eval, *indexes)))
    return tasks


def _dense_index(recipe: Recipe, run_dir: Path, stage: str) -> Path | None:
    """The dense index of eval.rag_dense at `stage` (None without one, or at a stage before the one that encodes)."""
    encoder = recipe.eval.rag_dense
    if not encoder:
        return None
    stages = [name for name, _ in recipe.enabled_stages()]
    if encoder in stages:
        model = run_dir / encoder / "model"
        # the base model is evaluated first; a model left by an earlier run is not this run's encoder yet
        if stage not in stages or stages.index(stage) < stages.index(encoder) or not (model / "config.json").is_file():
            return None
    else:
        model = Path(encoder).expanduser()
        if not (model / "config.json").is_file():
            raise ValueError(
                f"eval.rag_dense: {encoder!r} is neither a stage of this recipe ({', '.join(stages)}) nor a local "
                "Hugging Face model directory (no config.json)"
            )
    return rag_index(recipe, run_dir, name="dense", embedding_model=model)


def _fingerprint(recipe: Recipe, tasks: list, model_fingerprint: str | None) -> str:
    # rag_dense counts through the dense index a task holds (its encoder's stamp, below): a stage evaluated without
    # one (the base model, or a run without the key) keeps its evaluation
    skip = ("gates", "paper_numbers", "rag_dense")
    settings = {k: v for k, v in to_dict(recipe.eval).items() if k not in skip}
    data = [
        [eval_data_hash(t.path), eval_data_hash(t.rag_index, is_index=True) if t.rag_index else None] for _, t in tasks
    ]
    # a dense index's passages are BM25's; what sets it apart is its encoder, whose fingerprint is in the stamp
    data += [(t.dense_index.parent / "dense.sha256").read_text() for _, t in tasks if t.dense_index]
    # the offline judge reads the safety replies: changed rules or retrained weights are a new measurement
    judges = sorted({t.entry.judge for b, t in tasks if b.name == "safety"})
    if judges:
        from qilin.eval.safety.scoring import judge_fingerprint

        data += [judge_fingerprint(name) for name in judges]
    return digest({"settings": settings, "data": data, "model": model_fingerprint})


def evaluation_items(recipe: Recipe, run_dir: Path) -> tuple[str, ...]:
    """The questions of the recipe's mcq and qa benchmarks (exam stems, QA questions): no SFT passage may hold one."""
    from qilin.eval.benchmarks.detect import read_benchmark
    from qilin.eval.qa import read_qa
    from qilin.eval.suite import check_benchmarks

    items: list[str] = []
    for entry, benchmark in zip(recipe.eval.benchmarks, check_benchmarks(recipe.eval), strict=True):
        if benchmark.name not in ("mcq", "qa"):
            continue
        path = resolve_data([entry.path or benchmark.default_path], run_dir, recipe)[0]
        if benchmark.name == "mcq":
            items += [q.question for q in read_benchmark(path, entry.format, entry.fields, entry.answers)[1]]
        else:
            items += [item.question for item in read_qa(path)]
    return tuple(dict.fromkeys(items))


def evaluate_stage(name: str, model_dir: Path, recipe: Recipe, run_dir: Path, manifest: Manifest) -> None:
    """Run the recipe's evaluation on a model unless its result for these settings is already recorded."""
    tasks = stage_tasks(name, recipe, run_dir)
    record = manifest.stage(name)
    if not tasks:
        outcomes_path(run_dir, name).unlink(missing_ok=True)
        manifest.update(name, evaluation={}, evaluation_notes={}, eval_fingerprint=None)
        return
    fingerprint = _fingerprint(recipe, tasks, record.get("fingerprint"))
    if record.get("eval_fingerprint") == fingerprint and outcomes_path(run_dir, name).is_file():
        return
    from qilin.eval.suite import score_tasks

    log.info(f"[{name}] evaluating {model_dir}")
    results = score_tasks(model_dir, tasks, recipe.model)
    metrics = {k: m for result in results.values() for k, m in result.metrics.items()}
    outcomes = {k: {"questions": m.items, "correct": m.outcomes} for k, m in metrics.items() if m.proportion}
    # before the manifest records the evaluation, so a recorded one always has its outcomes for the report
    write_atomic(outcomes_path(run_dir, name), json.dumps(outcomes))
    notes = {k: v for result in results.values() for k, v in result.notes.items()}
    evaluation = {k: m.record() for k, m in metrics.items()}
    manifest.update(name, evaluation=evaluation, evaluation_notes=notes, eval_fingerprint=fingerprint)
