"""Stage ablations: the recipe with one stage left out, each variant in its own run directory, for one or more seeds.

    variants = ablation_variants(recipe)        # full, no-cpt, no-sft, no-dpo (the stages the recipe has)
    runs = run_ablation(recipe, Path("runs/demo"), seeds=3)

Layout: the full recipe at seed 0 runs in the run directory itself (an existing run is reused as it is); every
other run goes to the sibling `<run_dir>-ablate/<variant>` (`<variant>-seed<k>` when seeds > 1). Seed k adds k
to every stage's `seed`, so it changes every stage's fingerprint and nothing is shared across seeds. All runs share
the full recipe's base model and the content-addressed stage store (`qilin.pipeline.store`), so a variant trains
only the stages whose inputs changed: without DPO trains nothing, without SFT trains DPO alone.

A VL recipe's "without stage 1" variant drops vl_align and gives vl_instruct vl_align's optimizer steps: its
max_steps becomes the optimizer steps vl_align plus vl_instruct took in the full run of the same seed (the `steps`
the manifest records: Trainer's global_step, one per batch_size x grad_accum x processes examples). Equal steps,
not equal examples: vl_instruct's batches then cycle its own data for longer.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qilin.config import Recipe
from qilin.distributed import is_main_process
from qilin.log import get_logger
from qilin.pipeline.inputs import BASE
from qilin.pipeline.runner import run_recipe
from qilin.pipeline.store import StageStore
from qilin.report import write_ablation

log = get_logger(__name__)

FULL = "full"
LABELS = {
    FULL: "full recipe",
    "cpt": "without DCPT",
    "sft": "without SFT",
    "dpo": "without DPO",
    "grpo": "without GRPO",
    "vl_align": "without VL stage 1 (equal steps)",
}


@dataclass(frozen=True)
class Variant:
    """One recipe of the ablation: its name, the stage it leaves out (None: the full recipe) and the recipe."""

    name: str
    removed: str | None
    recipe: Recipe

    @property
    def label(self) -> str:
        """How the ablation table names the variant."""
        return LABELS[self.removed or FULL]


def seeded(recipe: Recipe, k: int) -> Recipe:
    """The recipe with k added to every enabled stage's training seed (k = 0: the recipe unchanged)."""
    out = copy.deepcopy(recipe)
    for name, cfg in out.enabled_stages():
        setattr(out.stages, name, dataclasses.replace(cfg, seed=cfg.seed + k))
    return out


def ablation_variants(recipe: Recipe, full_steps: dict[str, int] | None = None) -> list[Variant]:
    """The full recipe, then the recipe without each of its stages (vl_instruct is never left out alone).

    `full_steps` (stage -> optimizer steps the full recipe took) sets the "without VL stage 1" variant's
    vl_instruct.max_steps to vl_align's steps plus vl_instruct's; that variant needs them when it has both stages.
    """
    variants = [Variant(FULL, None, copy.deepcopy(recipe))]
    enabled = dict(recipe.enabled_stages())
    for name in enabled:
        if name == "vl_instruct":
            continue
        out = copy.deepcopy(recipe)
        setattr(out.stages, name, None)
        if name == "vl_align" and "vl_instruct" in enabled:
            if not full_steps or "vl_align" not in full_steps or "vl_instruct" not in full_steps:
                raise ValueError("without VL stage 1: the full run's vl_align and vl_instruct steps are needed")
            total = full_steps["vl_align"] + full_steps["vl_instruct"]
            out.stages.vl_instruct = dataclasses.replace(out.stages.vl_instruct, max_steps=total)
        variants.append(Variant(f"no-{name.replace('_', '-')}", name, out))
    return variants


def run_directory(run_dir: Path, variant: str, seed: int, seeds: int) -> Path:
    """Where a variant's run at seed k goes: the run directory itself for the full recipe at seed 0."""
    if variant == FULL and seed == 0:
        return run_dir
    suffix = f"-seed{seed}" if seeds > 1 else ""
    return run_dir.with_name(run_dir.name + "-ablate") / f"{variant}{suffix}"


def ablation_dir(run_dir: Path) -> Path:
    """The folder of the variants' run directories and the ablation table."""
    return run_dir.with_name(run_dir.name + "-ablate")


def _steps(manifest: dict[str, Any]) -> dict[str, int]:
    return {n: r["metrics"]["steps"] for n, r in manifest["stages"].items() if "steps" in r.get("metrics", {})}


def run_ablation(recipe: Recipe, run_dir: Path, seeds: int = 1, store: StageStore | None = None) -> list[dict]:
    """Run every variant at seeds 0..seeds-1 (each writes its report) and write the ablation table into
    `ablation_dir(run_dir)`; returns one {variant, label, seed, run_dir, final_stage} per run."""
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, not {seeds}")
    store = store or StageStore.default()
    runs = []
    for k in range(seeds):
        recipe_k = seeded(recipe, k)
        full_dir = run_directory(run_dir, FULL, k, seeds)
        log.info(f"ablation, seed {k}: full recipe in {full_dir}")
        full = run_recipe(recipe_k, full_dir, store=store, base_run=None if k == 0 else run_dir)
        base_run = run_dir if k else full_dir
        for variant in ablation_variants(recipe_k, _steps(full.data)):
            out = run_directory(run_dir, variant.name, k, seeds)
            if variant.removed is not None:
                log.info(f"ablation, seed {k}: {variant.label} in {out}")
                run_recipe(variant.recipe, out, store=store, base_run=base_run)
            stages = [name for name, _ in variant.recipe.enabled_stages()]
            final = stages[-1] if stages else BASE
            runs.append(
                {"variant": variant.name, "label": variant.label, "seed": k, "run_dir": str(out), "final_stage": final}
            )
    if is_main_process():
        write_ablation(runs, ablation_dir(run_dir), recipe.name)
    return runs
