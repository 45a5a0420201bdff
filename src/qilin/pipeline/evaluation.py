"""The recipe's evaluation hook: score the base model and every stage's output, once per model and settings."""

from __future__ import annotations

import json
from pathlib import Path

from qilin.config import VL_STAGES, Recipe, to_dict
from qilin.durable import write_atomic
from qilin.hashing import digest, file_sha256
from qilin.log import get_logger
from qilin.pipeline.inputs import BASE, rag_index, resolve_data
from qilin.pipeline.manifest import Manifest

log = get_logger(__name__)


def eval_data_hash(key: str, path: Path) -> str:
    """The content an evaluation depends on: a file's bytes, or for the RAG index its passages' texts only.

    Passages name their source file, whose path holds the run directory: without this, the same stage output
    restored into an ablation variant's directory would be evaluated again for nothing.
    """
    if key == "rag_dense":  # its vectors depend on the encoder too
        return file_sha256(path / "embeddings.safetensors")
    if key != "rag":
        return file_sha256(path)
    with open(path / "passages.jsonl", encoding="utf-8") as lines:
        return digest([json.loads(line)["text"] for line in lines])


def _dense_index(recipe: Recipe, run_dir: Path, manifest: Manifest) -> Path:
    """The dense index over eval.rag's corpus, its encoder eval.rag_dense_model ('base': the run's base model)."""
    encoder = recipe.eval.rag_dense_model
    if encoder == "base":
        output = Path(manifest.stage(BASE)["output"])
        encoder = output if output.is_absolute() else run_dir / output
    return rag_index(recipe, run_dir, name="dense-index", embedding_model=Path(encoder).expanduser())


def evaluation_items(recipe: Recipe, run_dir: Path) -> tuple[str, ...]:
    """The questions the recipe evaluates on (exam stems, QA questions): no SFT passage may hold one."""
    from qilin.eval.cmexam import read_cmexam
    from qilin.eval.qa import read_qa

    items = []
    for entry in (recipe.eval.cmexam, recipe.eval.index_only):
        if entry:
            items += [q.question for q in read_cmexam(resolve_data([entry], run_dir, recipe)[0])]
    if recipe.eval.qa:
        items += [item.question for item in read_qa(resolve_data([recipe.eval.qa], run_dir, recipe)[0])]
    return tuple(items)


def evaluate_stage(name: str, model_dir: Path, recipe: Recipe, run_dir: Path, manifest: Manifest) -> None:
    """Run the recipe's evaluation on a model unless its result for these settings is already recorded."""
    from qilin.eval.suite import evaluate_model

    keys = ("vqa",) if name in VL_STAGES else ("cmexam", "index_only", "qa", "general")
    data = {key: resolve_data([entry], run_dir, recipe)[0] for key in keys if (entry := getattr(recipe.eval, key))}
    if recipe.eval.safety and name not in VL_STAGES:
        from qilin.eval.safety.prompts import prompts_path

        data["safety"] = prompts_path(recipe.eval.safety)
    if name not in VL_STAGES:
        data.update({f"mcq_{k}": resolve_data([f], run_dir, recipe)[0] for k, f in recipe.eval.benchmarks.items()})
    if not data:
        return
    if ("cmexam" in data or "index_only" in data) and recipe.eval.rag:
        data["rag"] = rag_index(recipe, run_dir)
        if recipe.eval.rag_dense_model:
            data["rag_dense"] = _dense_index(recipe, run_dir, manifest)
    record = manifest.stage(name)
    eval_fingerprint = digest(
        {
            "settings": to_dict(recipe.eval),
            "data": {k: eval_data_hash(k, p) for k, p in data.items()},
            "model": record.get("fingerprint"),
        }
    )
    if record.get("eval_fingerprint") == eval_fingerprint:
        return
    log.info(f"[{name}] evaluating {model_dir}")
    result = evaluate_model(model_dir, recipe.eval, recipe.model, data)
    if per_question := result.pop("per_question", None):
        # before the manifest records the evaluation, so a recorded one always has its answers for the report
        write_atomic(run_dir / "eval" / f"{name}.json", json.dumps(per_question))
    metrics = {**record.get("metrics", {}), **result}
    manifest.update(name, metrics=metrics, eval_fingerprint=eval_fingerprint)
