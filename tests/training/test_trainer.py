"""One way to build a stage's training arguments: every stage's Trainer gets the recipe's values."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import TrainingArguments
from trl import DPOConfig, GRPOConfig

from qilin.config import (
    STAGE_ORDER,
    CptSettings,
    DpoSettings,
    GrpoSettings,
    ModelSettings,
    SftSettings,
    VisionSettings,
    VLAlignSettings,
    VLInstructSettings,
)
from qilin.stages import cpt, dpo, grpo, sft, vl_align, vl_instruct
from qilin.training import stage_arguments
from tests.conftest import stage_context, write_jsonl
from tests.vl_files import caption_file, scan_set, vqa_file

# Values no stage uses by default, so an argument that ignored the recipe would show.
RECIPE = {
    "epochs": 3.0,
    "max_steps": 7,
    "learning_rate": 3.5e-4,
    "lr_scheduler": "linear",
    "warmup_ratio": 0.25,
    "weight_decay": 0.03,
    "batch_size": 3,
    "grad_accum": 2,
    "save_steps": 11,
    "save_total_limit": 5,
    "logging_steps": 4,
    "seed": 17,
}
EXPECTED = {
    "num_train_epochs": 3.0,
    "max_steps": 7,
    "learning_rate": 3.5e-4,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.25,
    "weight_decay": 0.03,
    "per_device_train_batch_size": 3,
    "gradient_accumulation_steps": 2,
    "save_steps": 11,
    "save_total_limit": 5,
    "logging_steps": 4,
    "seed": 17,
}


class _Built(Exception):
    """Raised in place of building the Trainer: the test has what it came for."""


def _arguments_of(module, ctx, monkeypatch) -> TrainingArguments:
    seen = {}

    def build_trainer(stage_dir, model, dataset, args, **kwargs):
        seen["args"] = args
        raise _Built

    monkeypatch.setattr(module, "build_trainer", build_trainer)
    with pytest.raises(_Built):
        module.run(ctx)
    return seen["args"]


def test_stage_arguments_are_the_recipe_values_then_the_stage_keys(tmp_path: Path) -> None:
    args = stage_arguments(SftSettings(**RECIPE), tmp_path, ModelSettings(), train_sampling_strategy="group_by_length")
    assert {k: getattr(args, k) for k in EXPECTED} == EXPECTED
    assert args.train_sampling_strategy == "group_by_length" and args.output_dir == str(tmp_path / "checkpoints")
    split = stage_arguments(SftSettings(**RECIPE), tmp_path, ModelSettings(), per_device_train_batch_size=6)
    assert split.per_device_train_batch_size == 6  # a stage key wins over the recipe value it names
    dpo_args = stage_arguments(DpoSettings(**RECIPE), tmp_path, ModelSettings(), DPOConfig, beta=0.3)
    assert isinstance(dpo_args, DPOConfig) and dpo_args.beta == 0.3 and dpo_args.learning_rate == 3.5e-4


def test_every_stage_trains_with_the_recipes_values(
    tiny_model_dir: Path, vision_dir: Path, data_files: dict, tmp_path: Path, monkeypatch
) -> None:
    scans = scan_set(tmp_path / "scans", 4, seed=5)
    options = {"A": "科", "B": "药", "C": "痛", "D": "热"}
    problems = write_jsonl(
        tmp_path / "problems.jsonl", [{"question": "高血压看哪科？", "options": options, "answer": "A"}] * 6
    )
    vision = VisionSettings(path=str(vision_dir), feature_layer=-1)
    text = {"finetune": "lora", **RECIPE}
    cases = {
        "cpt": (cpt, CptSettings(block_size=32, tokenize_processes=1, **text), data_files["cpt"]),
        "sft": (sft, SftSettings(max_length=64, tokenize_processes=1, **text), data_files["sft"]),
        "dpo": (dpo, DpoSettings(max_length=64, beta=0.2, **text), data_files["dpo"]),
        "grpo": (grpo, GrpoSettings(num_generations=3, max_new_tokens=8, rollouts="transformers", **text), problems),
        "vl_align": (vl_align, VLAlignSettings(max_length=128, **RECIPE), caption_file(scans)),
        "vl_instruct": (vl_instruct, VLInstructSettings(max_length=128, **text), vqa_file(scans)),
    }
    assert set(cases) == set(STAGE_ORDER)  # a new stage must be added here
    for name, (module, cfg, data) in cases.items():
        cfg.data = [str(data)]
        extra = {"vision_dir": vision_dir, "vision": vision} if name.startswith("vl_") else {}
        ctx = stage_context(cfg, [data], tiny_model_dir, ModelSettings(), tmp_path / name, **extra)
        args = _arguments_of(module, ctx, monkeypatch)
        assert {k: getattr(args, k) for k in EXPECTED} == EXPECTED, name
        assert args.output_dir == str(tmp_path / name / "checkpoints"), name
        if name == "dpo":
            assert isinstance(args, DPOConfig) and args.beta == 0.2 and args.max_length == 64
        if name == "grpo":
            assert isinstance(args, GRPOConfig) and args.num_generations == 3 and args.max_completion_length == 8
