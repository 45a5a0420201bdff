"""VL stage 2, instruction tuning: image-question-answer conversations; the projector and the LLM train.

setup -> load the aligned VL model (or build one) -> LoRA or full on the LLM -> data -> train -> save.
"""

from __future__ import annotations

from typing import Any

import torch

from qilin.data.vision.dataset import PackedVLDataset, build_vl_dataset, collate_packed_vl, collate_vl
from qilin.log import get_logger
from qilin.models.lora import attach_lora
from qilin.models.vision import prepare_vl_model
from qilin.stages.protocol import StageContext
from qilin.training import build_trainer, save_stage_output, stage_arguments, train
from qilin.training.memory import with_checkpointing_decided
from qilin.training.precision import load_dtype, resolve_precision

log = get_logger(__name__)


def language_model_linear_layers(model: Any) -> list[str]:
    """Names of the LLM's linear layers (LoRA targets): never the vision tower, projector or output head."""
    return [
        name
        for name, module in model.named_modules()
        if name.startswith("language_model.") and isinstance(module, torch.nn.Linear) and not name.endswith("lm_head")
    ]


def run(ctx: StageContext) -> dict[str, Any]:
    """Instruction-tune the projector and the LLM; the output VL model lands in `ctx.output`."""
    cfg = ctx.config
    cfg = with_checkpointing_decided(cfg, ctx.model_path, ctx.model, cfg.max_length * cfg.batch_size)
    precision = resolve_precision(cfg.precision)
    dtype = load_dtype(precision, trains_all_weights=cfg.finetune == "full")
    model, tokenizer, processor = prepare_vl_model(ctx.model_path, ctx.vision_dir, ctx.vision, ctx.model, dtype)
    model.requires_grad_(True)
    model.vision_tower.requires_grad_(False)  # frozen in every stage, as in the paper
    if precision != "bf16-pure":
        model.projector.float()  # trains whole beside LoRA adapters: fp32 master weights
    dataset, skipped = build_vl_dataset(
        ctx.data, cfg.format, cfg.images, cfg.skip_bad_images, model, tokenizer, processor, cfg.max_length
    )
    if cfg.finetune == "lora":
        targets = cfg.lora.target_modules
        model = attach_lora(
            model,
            cfg.lora,
            target_modules=language_model_linear_layers(model) if targets == "all-linear" else targets,
            modules_to_save=["projector"],  # the projector trains fully beside the LLM's adapters
            task_type=None,  # a VL model, not a plain causal LM: peft wraps it as is
        )
    examples = len(dataset)
    collator = collate_vl(tokenizer.pad_token_id)
    if cfg.packing:
        dataset, collator = PackedVLDataset(dataset, cfg.max_length), collate_packed_vl(tokenizer.pad_token_id)
        log.info(f"packed {examples} image conversations into {len(dataset)} rows of at most {cfg.max_length} tokens")
    args = stage_arguments(cfg, ctx.stage_dir, ctx.model)
    trainer = build_trainer(ctx.stage_dir, model, dataset, args, data_collator=collator)
    metrics = train(trainer, ctx.stage_dir)
    dropped = dataset.dataset.dropped if cfg.packing else dataset.dropped
    metrics.update(examples=examples, rows=len(dataset), dropped=dropped, bad_images=skipped)
    save_stage_output(
        trainer, tokenizer, cfg, ctx.model_path, ctx.model, ctx.stage_dir, processor, ctx.feeds_next_stage
    )
    return metrics
