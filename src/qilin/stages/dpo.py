"""Stage 3, Direct Preference Optimization with trl's DPOTrainer.

Preferences are handed to trl in its conversational format, so trl renders the prompt with the tokenizer's
chat template: the same template and the same call SFT used. With LoRA, no reference model is loaded: trl
scores the reference by disabling the adapter, so the base weights exist once in memory.

With `cache_reference` (the default) the reference scores every pair once before training, and the log-probs
are kept under <run_dir>/cache/dpo_ref (see qilin.training.reference_cache): later epochs, reruns with a new beta or
learning rate, and runs resumed after a crash load them and run no reference forward pass. Full fine-tuning
then needs no second copy of the model either.

Pairs are packed (see qilin.training.packed_dpo): each prompt runs once, chosen and rejected branch off it, several
pairs per row. trl's tokenization, reference handling and fused LM head are kept; where the attention kernel cannot
take the branch mask the stage says why and runs trl's padded pairs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from qilin.config import ModelSettings
from qilin.data.preference.packing import PackedPreferenceCollator
from qilin.data.text.formats import read_file
from qilin.log import get_logger
from qilin.models.loading import load_tokenizer
from qilin.stages.protocol import StageContext
from qilin.training import build_model, build_trainer, save_stage_output, stage_arguments, train
from qilin.training.memory import with_checkpointing_decided
from qilin.training.packed_dpo import (
    DENSE_MASK_KERNELS,
    PackedCachedDPOTrainer,
    PackedDPOTrainer,
    packing_unavailable,
)
from qilin.training.reference_cache import CachedReferenceDPOTrainer, reference_sources

log = get_logger(__name__)


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


def build_dpo_trainer(ctx: StageContext) -> DPOTrainer:
    """A DPOTrainer for the stage (separate from `run` so tests can inspect it before training)."""
    rows = 2 * ctx.config.batch_size  # trl runs chosen and rejected of each pair in one batch
    model_settings = dpo_model_settings(ctx.config, ctx.model)
    cfg = with_checkpointing_decided(ctx.config, ctx.model_path, model_settings, ctx.config.max_length * rows)
    tokenizer = load_tokenizer(ctx.model_path, model_settings)
    dataset = preference_dataset(ctx.data)
    model = build_model(ctx.model_path, model_settings, cfg)
    args = stage_arguments(
        cfg,
        ctx.stage_dir,
        model_settings,
        DPOConfig,
        beta=cfg.beta,
        max_length=cfg.max_length,
        precompute_ref_log_probs=cfg.cache_reference,
    )
    collator = packed_collator(cfg, model.config, model_settings.trust_remote_code, tokenizer.pad_token_id)
    # LoRA: the reference is the adapter-disabled policy. Full: trl scores the reference with the starting weights
    # before training when precomputing, else it loads the starting model again.
    common = {"ref_model": None, "processing_class": tokenizer}
    if collator is not None:
        common["data_collator"] = collator
    if not cfg.cache_reference:
        trainer_class = DPOTrainer if collator is None else PackedDPOTrainer
        return build_trainer(ctx.stage_dir, model, dataset, args, trainer_class=trainer_class, **common)
    sources = reference_sources(ctx.model_path, ctx.data_hashes, model_settings, next(model.parameters()).dtype)
    return build_trainer(
        ctx.stage_dir,
        model,
        dataset,
        args,
        trainer_class=CachedReferenceDPOTrainer if collator is None else PackedCachedDPOTrainer,
        **common,
        # Beside the stage directory, not in it: the pipeline deletes a stage directory when its config changes
        # (a new beta), and the reference log-probs do not depend on that config.
        cache_dir=ctx.stage_dir.parent / "cache" / "dpo_ref",
        sources={**sources, "layout": "padded" if collator is None else "packed"},
    )


def dpo_model_settings(cfg: Any, model_settings: ModelSettings, cuda: bool | None = None) -> ModelSettings:
    """The model settings, with `attn_implementation: auto` picking flex_attention for packed pairs on CUDA.

    auto would pick FlashAttention-2 where flash-attn is installed, which cannot take the branch mask; flex's block
    mask can, and skips the masked blocks. An explicit kernel is kept (and falls back if it cannot pack).
    """
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cfg.packing and cuda and model_settings.attn_implementation == "auto" and not model_settings.trust_remote_code:
        return replace(model_settings, attn_implementation="flex_attention")
    return model_settings


def packed_collator(cfg: Any, model_config: Any, trust_remote_code: bool, pad_token_id: int) -> Any:
    """The packed-pairs collator, or None (trl's padded pairs) when packing is off or cannot run, saying why."""
    if not cfg.packing:
        return None
    why = packing_unavailable(model_config, trust_remote_code, longest=cfg.max_length)
    if why is not None:
        log.warning(f"dpo: packed pairs off, each pair runs as two padded rows as in trl: {why}")
        return None
    row_tokens = cfg.pack_row_tokens or None
    if row_tokens is None and model_config._attn_implementation not in DENSE_MASK_KERNELS:
        row_tokens = 2**62  # flex_attention skips the masked blocks: one row per batch costs nothing extra
    return PackedPreferenceCollator(pad_token_id, cfg.max_length, row_tokens)


def run(ctx: StageContext) -> dict[str, Any]:
    """Run DPO from `ctx.model_path` on `ctx.data`; the output model lands in `ctx.output`."""
    cfg = ctx.config
    trainer = build_dpo_trainer(ctx)
    metrics = train(trainer, ctx.stage_dir)
    rewards = [h for h in trainer.state.log_history if "rewards/accuracies" in h]
    if rewards:
        metrics["reward_accuracy"] = round(rewards[-1]["rewards/accuracies"], 3)
        metrics["reward_margin"] = round(rewards[-1]["rewards/margins"], 4)
    metrics["pairs"] = len(trainer.train_dataset)
    save_stage_output(
        trainer,
        trainer.processing_class,
        cfg,
        ctx.model_path,
        ctx.model,
        ctx.stage_dir,
        feeds_next_stage=ctx.feeds_next_stage,
    )
    return metrics
