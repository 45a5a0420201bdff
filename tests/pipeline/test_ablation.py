"""The ablation's variants, seeds and run directories (pure functions of the recipe)."""

from pathlib import Path

import pytest

from qilin.config import load_recipe
from qilin.pipeline.ablation import ablation_variants, run_directory, seeded

ROOT = Path(__file__).resolve().parents[2]


def test_text_variants_leave_out_one_stage_each_and_keep_the_rest_unchanged() -> None:
    recipe = load_recipe(ROOT / "recipes" / "demo.yaml")
    variants = ablation_variants(recipe)
    assert [(v.name, v.removed, v.label) for v in variants] == [
        ("full", None, "full recipe"),
        ("no-cpt", "cpt", "without DCPT"),
        ("no-sft", "sft", "without SFT"),
        ("no-dpo", "dpo", "without DPO"),
        ("no-grpo", "grpo", "without GRPO"),
    ]
    for v in variants:
        stages = [name for name, _ in v.recipe.enabled_stages()]
        assert stages == [s for s in ("cpt", "sft", "dpo", "grpo") if s != v.removed]
        for name, cfg in v.recipe.enabled_stages():
            assert cfg == getattr(recipe.stages, name)  # the kept stages exactly as the recipe sets them
        assert v.recipe.eval == recipe.eval and v.recipe.model == recipe.model
    assert recipe.stages.cpt is not None  # the recipe itself is untouched


def test_vl_without_stage_1_gives_instruct_the_steps_of_both() -> None:
    recipe = load_recipe(ROOT / "recipes" / "demo-vl.yaml")
    with pytest.raises(ValueError, match="vl_align and vl_instruct steps are needed"):
        ablation_variants(recipe)
    variants = ablation_variants(recipe, {"vl_align": 188, "vl_instruct": 207})
    assert [v.name for v in variants] == ["full", "no-vl-align"]
    full, without = variants
    assert full.recipe.stages.vl_instruct.max_steps == -1  # the full recipe runs its epochs
    assert without.recipe.stages.vl_align is None and without.label == "without VL stage 1 (equal steps)"
    assert without.recipe.stages.vl_instruct.max_steps == 188 + 207
    assert without.recipe.stages.vl_instruct.learning_rate == recipe.stages.vl_instruct.learning_rate


def test_seed_k_shifts_every_stage_seed_and_seed_0_is_the_recipe() -> None:
    recipe = load_recipe(ROOT / "recipes" / "demo.yaml")
    assert seeded(recipe, 0) == recipe
    shifted = seeded(recipe, 2)
    for name, cfg in shifted.enabled_stages():
        assert cfg.seed == getattr(recipe.stages, name).seed + 2
    assert shifted.embedded == recipe.embedded  # the base model is the same for every seed


def test_run_directories() -> None:
    run = Path("runs/demo")
    assert run_directory(run, "full", 0, 1) == run
    assert run_directory(run, "no-dpo", 0, 1) == Path("runs/demo-ablate/no-dpo")
    assert run_directory(run, "full", 0, 3) == run  # seed 0 of the full recipe is the plain run, reused
    assert run_directory(run, "full", 2, 3) == Path("runs/demo-ablate/full-seed2")
    assert run_directory(run, "no-sft", 0, 3) == Path("runs/demo-ablate/no-sft-seed0")
