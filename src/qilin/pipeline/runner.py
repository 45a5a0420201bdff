"""Run a recipe's stages in order, each starting from the previous stage's output, with a manifest.

The run directory's manifest.json lists every stage with its inputs (content hashes), output, metrics and
status. A stage whose recorded fingerprint (its config, its input model and its data) is unchanged and whose
status is complete is skipped; a stage that was interrupted resumes from its last complete checkpoint; a
stage whose inputs changed starts again. The manifest is rewritten atomically after every change.
"""

from __future__ import annotations

import dataclasses
import importlib
import shutil
import time
from pathlib import Path
from typing import Any

from qilin.config import VL_STAGES, Recipe, TrainSettings, to_dict
from qilin.distributed import is_main_process, main_process_first
from qilin.hashing import digest, file_sha256
from qilin.log import get_logger
from qilin.pipeline.evaluation import eval_data_hash, evaluate_stage, evaluation_items
from qilin.pipeline.gates import GateFailed, check_stage_gates
from qilin.pipeline.inputs import BASE, base_model, rag_index, resolve_data, shared_base, vision_tower
from qilin.pipeline.manifest import Manifest
from qilin.pipeline.store import StageStore
from qilin.report import write_report
from qilin.stages.protocol import Stage, StageContext

log = get_logger(__name__)


def stage_module(name: str) -> Stage:
    """The module of stage `name`; only the stage that runs is imported (the VL ones pull in vision code)."""
    return importlib.import_module(f"qilin.stages.{name}")


def _stage_inputs(ctx: StageContext, model_fingerprint: str, vision_fingerprint: str | None) -> tuple[dict, str]:
    """(inputs recorded in the manifest, fingerprint deciding whether the stage must run again)."""
    inputs = {
        "model": {"path": str(ctx.model_path), "fingerprint": model_fingerprint},
        "data": [{"path": str(p), "sha256": h} for p, h in zip(ctx.data, ctx.data_hashes, strict=False)],
        "config": to_dict(ctx.config),
        "model_settings": to_dict(ctx.model),
    }
    # content only, no paths: a moved or copied run directory still skips its finished stages
    fingerprint = digest(
        {
            "model": model_fingerprint,
            "data": ctx.data_hashes,
            "config": inputs["config"],
            "model_settings": {k: v for k, v in inputs["model_settings"].items() if k != "path"},
            **(
                {"vision": vision_fingerprint, "vision_settings": to_dict(ctx.vision)} if ctx.vision is not None else {}
            ),
            **(
                {
                    "rag_index": eval_data_hash(ctx.rag_index, is_index=True),
                    "evaluation_items": digest(ctx.evaluation_items),
                }
                if ctx.rag_index is not None
                else {}
            ),
        }
    )
    return inputs, fingerprint


def _run_stage(name: str, ctx: StageContext, manifest: Manifest) -> None:
    try:
        metrics = stage_module(name).run(ctx)
    except BaseException as e:
        manifest.update(name, status="failed", error=f"{type(e).__name__}: {e}")
        raise
    run_dir = manifest.path.parent
    manifest.update(
        name, status="complete", output=str(ctx.output.relative_to(run_dir)), metrics=metrics, finished=time.time()
    )


def run_recipe(
    recipe: Recipe,
    run_dir: Path,
    store: StageStore | None = None,
    base_run: Path | None = None,
    gates: str = "report",
) -> Manifest:
    """Run every enabled stage of `recipe` in `run_dir`, evaluating the base model and each stage's output, checking
    its gates and writing the report (report.md) at the end.

    gates: 'report' records every gate's verdict; 'strict' also stops before the next stage when one fails (raises
    GateFailed after writing the report; the stage's output stays and a rerun continues).

    In a launched run every process runs this; the main process does each non-training step first
    (`main_process_first`) and the others then find it done, so they agree on every decision. With a `store`,
    a stage whose fingerprint the store holds is taken from it instead of trained, and every finished stage is
    stored. With `base_run`, the first stage starts from that run's base model (ablation variants share the
    full recipe's, whose embedded tokenizer was trained on every stage's texts).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    stages = recipe.enabled_stages()
    with main_process_first():
        manifest = Manifest(run_dir, recipe.name)
        manifest.plan([BASE, *(name for name, _ in stages)])
        if base_run is None:
            model_path, model_fingerprint = base_model(recipe, run_dir, manifest)
        else:
            model_path, model_fingerprint = shared_base(base_run, run_dir, manifest)
        evaluate_stage(BASE, model_path, recipe, run_dir, manifest)
    try:
        _run_stages(recipe, run_dir, manifest, stages, model_path, model_fingerprint, store, gates == "strict")
    except GateFailed:
        if is_main_process():
            write_report(run_dir, paper=recipe.eval.paper_numbers)
        raise
    if is_main_process():
        write_report(run_dir, paper=recipe.eval.paper_numbers)
    return manifest


def _run_stages(
    recipe: Recipe,
    run_dir: Path,
    manifest: Manifest,
    stages: list[tuple[str, TrainSettings]],
    model_path: Path,
    model_fingerprint: str,
    store: StageStore | None,
    strict: bool,
) -> None:
    vision_dir = vision_fingerprint = None
    for position, (name, cfg) in enumerate(stages, 1):
        with main_process_first():
            manifest.reload()
            ctx = _context(name, cfg, recipe, run_dir, model_path, feeds_next_stage=position < len(stages))
            if ctx.vision is not None:
                if vision_dir is None:
                    vision_dir, vision_fingerprint = vision_tower(recipe, run_dir, manifest)
                ctx = dataclasses.replace(ctx, vision_dir=vision_dir)
            inputs, fingerprint = _stage_inputs(ctx, model_fingerprint, vision_fingerprint)
            done = _prepare_stage(name, ctx, manifest, inputs, fingerprint)
            if not done and store is not None:
                done = store.restore(name, fingerprint, ctx.stage_dir, manifest)
        if not done:
            log.info(f"[{name}] training from {ctx.model_path}")
            _run_stage(name, ctx, manifest)
        with main_process_first():
            manifest.reload()
            evaluate_stage(name, ctx.output, recipe, run_dir, manifest)
            if store is not None:
                store.publish(name, fingerprint, ctx.stage_dir, manifest)
            check_stage_gates(name, recipe, run_dir, manifest, strict=strict)
        model_path, model_fingerprint = ctx.output, fingerprint


def _context(
    name: str, cfg: TrainSettings, recipe: Recipe, run_dir: Path, model_path: Path, feeds_next_stage: bool
) -> StageContext:
    data = resolve_data(cfg.data, run_dir, recipe)
    if name == "cpt" and cfg.replay:  # replayed general text goes last (stages.cpt.replay_files)
        data += resolve_data(cfg.replay_data, run_dir, recipe)
    retrieval = {}
    if name == "sft" and (cfg.rag.share > 0 or cfg.rag.reading):
        if not (cfg.rag.corpus or recipe.eval.rag):
            raise ValueError(
                "stages.sft.rag (share > 0 or reading) needs a corpus to retrieve from: stages.sft.rag.corpus or "
                "eval.rag"
            )
        index = rag_index(recipe, run_dir, cfg.rag.corpus or None, name="sft-index")
        retrieval = {"rag_index": index, "evaluation_items": evaluation_items(recipe, run_dir)}
        reading = resolve_data(cfg.rag.reading, run_dir, recipe)
        data += reading  # trained with the rest; fingerprinted and cached with it
        retrieval["reading_data"] = tuple(reading)
    return StageContext(
        config=cfg,
        data=data,
        data_hashes=[file_sha256(p) for p in data],
        model_path=model_path,
        model=recipe.model,
        stage_dir=run_dir / name,
        vision=recipe.vision if name in VL_STAGES else None,
        feeds_next_stage=feeds_next_stage,
        **retrieval,
    )


def _prepare_stage(name: str, ctx: StageContext, manifest: Manifest, inputs: dict[str, Any], fingerprint: str) -> bool:
    """True when the stage is complete with these inputs (skip it); else make its directory ready to run it."""
    record = manifest.stage(name)
    if record.get("status") == "complete" and record.get("fingerprint") == fingerprint and ctx.output.exists():
        log.info(f"[{name}] complete with unchanged inputs: skipped")
        return True
    if record.get("fingerprint") not in (None, fingerprint) and ctx.stage_dir.exists():
        log.info(f"[{name}] inputs changed since the last run: starting this stage again")
        shutil.rmtree(ctx.stage_dir)
    ctx.stage_dir.mkdir(parents=True, exist_ok=True)
    manifest.forget(name)  # metrics and evaluations of an earlier model
    manifest.update(name, status="running", fingerprint=fingerprint, inputs=inputs, started=time.time())
    return False
