"""A stage's output: one consolidated Hugging Face directory, LoRA merged, written atomically.

A stage directory holds:
    checkpoints/     resumable Trainer checkpoints (a checkpoint counts once its trainer_state.json exists)
    tensorboard/     loss curves
    adapter/         the unmerged LoRA adapter (LoRA stages only)
    model/           the stage's output: a standard HF directory the next stage starts from
    log_history.json every logged step (loss, learning rate, ...), for reports
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from peft import PeftModel
from transformers import Trainer

from qilin.distributed import is_main_process
from qilin.models.loading import load_model, save_pretrained_atomic
from qilin.models.lora import merge_adapter, merge_saved_adapter
from qilin.stages.protocol import StageContext


def save_stage_output(trainer: Trainer, tokenizer: Any, ctx: StageContext, processor: Any = None) -> Path:
    """Write `ctx.output` from the trained model: every stage saves through here; every process must call it.

    Text stages may be sharded (FSDP, ZeRO-3), so they save through Trainer.save_model, the one save every engine
    supports (it gathers shards and partitions and writes from the main process); the main process then merges
    a LoRA adapter into a fresh copy of the starting model. VL stages run under DDP only (every process holds
    the whole model), so the main process saves the adapter and merges it in memory. The unmerged adapter stays
    in `adapter/` for users who serve adapters.
    """
    if ctx.vision is not None:
        _save_vl_output(trainer, tokenizer, processor, ctx)
        return ctx.output
    trained = ctx.stage_dir / "trained"
    trainer.save_model(str(trained))
    if not is_main_process():
        return ctx.output
    (trained / "training_args.bin").unlink(missing_ok=True)  # a pickle; the Trainer config is in the manifest
    if ctx.config.finetune == "lora":
        adapter = ctx.stage_dir / "adapter"
        if adapter.exists():
            shutil.rmtree(adapter)
        trained.rename(adapter)
        tokenizer.save_pretrained(adapter)
        model = merge_saved_adapter(load_model(ctx.model_path, ctx.model), adapter)
    else:
        model = load_model(trained, ctx.model)
    save_pretrained_atomic(model, tokenizer, ctx.output)
    if trained.exists():
        shutil.rmtree(trained)
    return ctx.output


def _save_vl_output(trainer: Trainer, tokenizer: Any, processor: Any, ctx: StageContext) -> None:
    if not is_main_process():
        return
    model = trainer.model
    if isinstance(model, PeftModel):
        model = merge_adapter(model, ctx.stage_dir / "adapter", tokenizer)
    save_pretrained_atomic(model, tokenizer, ctx.output, processor)
