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

from qilin.config import ModelSettings, TrainSettings
from qilin.distributed import is_main_process
from qilin.models.loading import load_model, save_pretrained_atomic
from qilin.models.lora import merge_adapter, merge_saved_adapter


def save_stage_output(
    trainer: Trainer,
    tokenizer: Any,
    cfg: TrainSettings,
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
    processor: Any = None,
) -> Path:
    """Write `stage_dir/model` from the trained model: every stage saves through here; every process calls it.

    Text stages may be sharded (FSDP, ZeRO-3), so they save through Trainer.save_model, the one save every engine
    supports (it gathers shards and partitions and writes from the main process); the main process then merges
    a LoRA adapter into a fresh copy of the starting model. VL stages run under DDP only (every process holds
    the whole model), so the main process saves the adapter and merges it in memory; they pass their image
    processor, saved beside the model. The unmerged adapter stays in `adapter/` for users who serve adapters.
    """
    out = stage_dir / "model"
    if processor is not None:
        _save_vl_output(trainer, tokenizer, processor, stage_dir)
        return out
    trained = stage_dir / "trained"
    trainer.save_model(str(trained))
    if not is_main_process():
        return out
    (trained / "training_args.bin").unlink(missing_ok=True)  # a pickle; the Trainer config is in the manifest
    if cfg.finetune == "lora":
        adapter = stage_dir / "adapter"
        if adapter.exists():
            shutil.rmtree(adapter)
        trained.rename(adapter)
        tokenizer.save_pretrained(adapter)
        model = merge_saved_adapter(load_model(model_path, model_settings), adapter)
    else:
        model = load_model(trained, model_settings)
    save_pretrained_atomic(model, tokenizer, out)
    if trained.exists():
        shutil.rmtree(trained)
    return out


def _save_vl_output(trainer: Trainer, tokenizer: Any, processor: Any, stage_dir: Path) -> None:
    if not is_main_process():
        return
    model = trainer.model
    if isinstance(model, PeftModel):
        model = merge_adapter(model, stage_dir / "adapter", tokenizer)
    save_pretrained_atomic(model, tokenizer, stage_dir / "model", processor)
