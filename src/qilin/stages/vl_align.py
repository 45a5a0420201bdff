"""VL stage 1, feature alignment: image-caption pairs; only the projector trains.

setup -> build the VL model (frozen vision tower + fresh projector + frozen LLM) -> data -> train -> save.
"""

from __future__ import annotations

from typing import Any

from qilin.data.vision.dataset import build_vl_dataset, collate_vl
from qilin.models.vision import prepare_vl_model
from qilin.stages.protocol import StageContext
from qilin.training import build_trainer, save_stage_output, stage_arguments, train
from qilin.training.memory import with_checkpointing_decided
from qilin.training.precision import load_dtype, resolve_precision


def run(ctx: StageContext) -> dict[str, Any]:
    """Align the projector; the output VL model lands in `ctx.output`."""
    cfg = ctx.config
    cfg = with_checkpointing_decided(cfg, ctx.model_path, ctx.model, cfg.max_length * cfg.batch_size)
    precision = resolve_precision(cfg.precision)
    dtype = load_dtype(precision, trains_all_weights=False)  # the LLM and the vision tower are frozen
    model, tokenizer, processor = prepare_vl_model(ctx.model_path, ctx.vision_dir, ctx.vision, ctx.model, dtype)
    model.requires_grad_(False)
    model.projector.requires_grad_(True)  # the LLM and the vision tower stay exactly as they were
    if precision != "bf16-pure":
        model.projector.float()  # what trains keeps fp32 master weights
    dataset, skipped = build_vl_dataset(
        ctx.data, cfg.format, cfg.images, cfg.skip_bad_images, model, tokenizer, processor, cfg.max_length
    )
    args = stage_arguments(cfg, ctx.stage_dir, ctx.model)
    trainer = build_trainer(ctx.stage_dir, model, dataset, args, data_collator=collate_vl(tokenizer.pad_token_id))
    metrics = train(trainer, ctx.stage_dir)
    metrics.update(examples=len(dataset), dropped=dataset.dropped, bad_images=skipped)
    save_stage_output(
        trainer, tokenizer, cfg, ctx.model_path, ctx.model, ctx.stage_dir, processor, ctx.feeds_next_stage
    )
    return metrics
