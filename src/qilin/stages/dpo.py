"""Stage 3, Direct Preference Optimization with trl's DPOTrainer.

Preferences are handed to trl in its conversational format, so trl renders the prompt with the tokenizer's
chat template: the same template and the same call SFT used. With LoRA, no reference model is loaded: trl
scores the reference by disabling the adapter, so the base weights exist once in memory.

With `cache_reference` (the default) the reference scores every pair once before training, and the log-probs
are kept under <run_dir>/cache/dpo_ref (see qilin.training.reference_cache): later epochs, reruns with a new beta or
learning rate, and runs resumed after a crash load them and run no reference forward pass. Full fine-tuning
then needs no second copy of the model either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from qilin.config import DpoSettings, ModelSettings
from qilin.data.text.formats import read_file
from qilin.models.loading import load_tokenizer
from qilin.pipeline.runner import file_sha256
from qilin.training.reference_cache import CachedReferenceDPOTrainer, reference_sources
from qilin.training.trainer import build_model, save_trained_model, tensorboard_callback, train, training_arguments


def preference_dataset(paths: list[Path]) -> Dataset:
    """Preferences in trl's conversational format: prompt messages, chosen and rejected assistant messages."""
    rows = [
        {
            "prompt": record["prompt"],
            "chosen": [{"role": "assistant", "content": record["chosen"]}],
            "rejected": [{"role": "assistant", "content": record["rejected"]}],
        }
        for path in paths
        for record in read_file(path, "dpo")
    ]
    return Dataset.from_list(rows)


def build_trainer(
    cfg: DpoSettings,
    data: list[Path],
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
    fingerprints: list[str] | None = None,
) -> DPOTrainer:
    """A DPOTrainer for the stage (separate from `run` so tests can inspect it before training)."""
    tokenizer = load_tokenizer(model_path, model_settings)
    dataset = preference_dataset(data)
    model = build_model(model_path, model_settings, cfg)
    args = DPOConfig(
        **training_arguments(cfg, stage_dir, model_settings),
        beta=cfg.beta,
        max_length=cfg.max_length,
        precompute_ref_log_probs=cfg.cache_reference,
    )
    common = {
        "model": model,
        # LoRA: the adapter-disabled policy. Full: trl scores the reference with the starting weights before
        # training when precomputing, else it loads the starting model again.
        "ref_model": None,
        "args": args,
        "train_dataset": dataset,
        "processing_class": tokenizer,
        "callbacks": [tensorboard_callback(stage_dir)],
    }
    if not cfg.cache_reference:
        return DPOTrainer(**common)
    fingerprints = fingerprints if fingerprints is not None else [file_sha256(p) for p in data]
    return CachedReferenceDPOTrainer(
        **common,
        # Beside the stage directory, not in it: the pipeline deletes a stage directory when its config changes
        # (a new beta), and the reference log-probs do not depend on that config.
        cache_dir=stage_dir.parent / "cache" / "dpo_ref",
        sources=reference_sources(model_path, fingerprints, model_settings),
    )


def run(
    cfg: DpoSettings,
    data: list[Path],
    fingerprints: list[str],
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
) -> dict[str, Any]:
    """Run DPO from `model_path` on `data`; the output model lands in `stage_dir/model`."""
    trainer = build_trainer(cfg, data, model_path, model_settings, stage_dir, fingerprints)
    metrics = train(trainer, stage_dir)
    rewards = [h for h in trainer.state.log_history if "rewards/accuracies" in h]
    if rewards:
        metrics["reward_accuracy"] = round(rewards[-1]["rewards/accuracies"], 3)
        metrics["reward_margin"] = round(rewards[-1]["rewards/margins"], 4)
    metrics["pairs"] = len(trainer.train_dataset)
    save_trained_model(trainer, trainer.processing_class, cfg, model_path, model_settings, stage_dir)
    return metrics
