"""A stage's output: one consolidated Hugging Face directory, LoRA merged in fp32, written atomically.

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

import torch
from peft import PeftModel
from transformers import PreTrainedModel, Trainer

from qilin.config import ModelSettings, TrainSettings
from qilin.distributed import is_main_process
from qilin.log import get_logger
from qilin.models.loading import load_model, resolve_dtype, save_pretrained_atomic, stored_dtype
from qilin.models.lora import merge_saved_adapter
from qilin.training.precision import output_dtype, resolve_precision

log = get_logger(__name__)


def save_stage_output(
    trainer: Trainer,
    tokenizer: Any,
    cfg: TrainSettings,
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
    processor: Any = None,
    feeds_next_stage: bool = False,
) -> Path:
    """Write `stage_dir/model` from the trained model; every process calls it. VL stages pass their processor.

    The output is in `model.dtype`, except that an output a later stage starts from keeps fp32 when the stage kept
    fp32 master weights (see qilin.training.precision.output_dtype). A LoRA adapter is merged in fp32.

    A model held whole by this process (one process, DDP) is saved from memory: no reload, no second write. A
    sharded one (FSDP, DeepSpeed) goes through Trainer.save_model, the one save every engine supports (it gathers
    shards and partitions and writes from the main process), and a LoRA adapter is then merged into a fresh fp32
    copy of the starting model.
    """
    out = stage_dir / "model"
    dtype = output_dtype(resolve_precision(cfg.precision), resolve_dtype(model_settings.dtype), feeds_next_stage)
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        return _save_gathered(trainer, tokenizer, model_path, model_settings, stage_dir, dtype)
    if not is_main_process():
        return out
    model = trainer.accelerator.unwrap_model(trainer.model)
    if isinstance(model, PeftModel):
        adapter = _save_adapter(model, tokenizer, stage_dir)
        if processor is not None or _held_as_stored(model, model_path):
            model = model.to(torch.float32).merge_and_unload()
        else:  # the frozen base was loaded rounded (bf16 from fp32): merge into the exact weights instead
            model = merge_saved_adapter(load_model(model_path, model_settings, dtype=torch.float32), adapter)
    save_pretrained_atomic(model.to(dtype), tokenizer, out, processor)
    return out


def _save_adapter(model: PeftModel, tokenizer: Any, stage_dir: Path) -> Path:
    adapter = stage_dir / "adapter"
    if adapter.exists():
        shutil.rmtree(adapter)
    model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    return adapter


def _held_as_stored(model: PeftModel, model_path: Path) -> bool:
    """True when the base weights in memory are exactly the stored ones (loaded in the dtype they were saved in)."""
    base_dtype = next(model.get_base_model().parameters()).dtype
    return stored_dtype(model_path) == base_dtype


def _save_gathered(
    trainer: Trainer, tokenizer: Any, model_path: Path, model_settings: ModelSettings, stage_dir: Path, dtype: Any
) -> Path:
    out = stage_dir / "model"
    trained = stage_dir / "trained"
    trainer.save_model(str(trained))
    if not is_main_process():
        return out
    (trained / "training_args.bin").unlink(missing_ok=True)  # a pickle; the Trainer config is in the manifest
    if (trained / "adapter_config.json").exists():
        adapter = stage_dir / "adapter"
        if adapter.exists():
            shutil.rmtree(adapter)
        trained.rename(adapter)
        tokenizer.save_pretrained(adapter)
        model: PreTrainedModel = merge_saved_adapter(
            load_model(model_path, model_settings, dtype=torch.float32), adapter
        )
    else:
        model = load_model(trained, model_settings, dtype=dtype)
    save_pretrained_atomic(model.to(dtype), tokenizer, out)
    if trained.exists():
        shutil.rmtree(trained)
    return out
