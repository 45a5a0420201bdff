"""What every training stage shares: trainer arguments, resumable training, and the stage's saved output.

A stage directory holds:
    checkpoints/     resumable Trainer checkpoints (a checkpoint counts once its trainer_state.json exists)
    tensorboard/     loss curves
    adapter/         the unmerged LoRA adapter (LoRA stages only)
    model/           the stage's output: a standard HF directory the next stage starts from
    log_history.json every logged step (loss, learning rate, ...), for reports
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter
from transformers import PreTrainedModel, Trainer, set_seed
from transformers.integrations import TensorBoardCallback

from qilin.config import ModelSettings, TrainSettings
from qilin.distributed import is_main_process, use_fsdp_on_cpu
from qilin.models.loading import load_model, resolve_dtype, save_pretrained_atomic
from qilin.models.lora import attach_lora

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def training_arguments(cfg: TrainSettings, stage_dir: Path, model_settings: ModelSettings) -> dict[str, Any]:
    """Keyword arguments shared by transformers.TrainingArguments and trl's configs, from a stage config."""
    bf16 = resolve_dtype(model_settings.dtype) == torch.bfloat16
    return {
        "output_dir": str(stage_dir / "checkpoints"),
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_steps": cfg.warmup_ratio,  # a float in [0, 1) is a ratio of total steps (transformers 5)
        "weight_decay": cfg.weight_decay,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "activation_checkpointing": cfg.gradient_checkpointing,
        "use_liger_kernel": cfg.liger_kernels,
        "bf16": bf16,
        "save_strategy": "steps",
        "save_steps": cfg.save_steps,
        "save_total_limit": cfg.save_total_limit,
        "logging_steps": cfg.logging_steps,
        "logging_first_step": True,
        "seed": cfg.seed,
        "report_to": "none",  # TensorBoard is attached explicitly, writing into the stage directory
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": torch.cuda.is_available(),
        "remove_unused_columns": False,
        "ddp_find_unused_parameters": False,  # every trainable weight is used in every step; skips a graph walk
    }


def build_model(model_path: Path, model_settings: ModelSettings, cfg: TrainSettings) -> PreTrainedModel:
    """The stage's starting model, with LoRA adapters attached when the stage is a LoRA stage."""
    model = load_model(model_path, model_settings)
    if cfg.finetune == "lora":
        # The Trainer seeds only when it is built, after this: without a seed here the adapters' random init
        # (LoRA A) would depend on whatever ran before, and two runs (or 1 vs N processes) would differ.
        set_seed(cfg.seed)
        model = attach_lora(model, cfg.lora)
        if cfg.gradient_checkpointing:
            model.enable_input_require_grads()  # frozen embeddings would otherwise cut the gradient path
    return model


def tensorboard_callback(stage_dir: Path) -> TensorBoardCallback:
    """Loss curves written under the stage directory."""
    return TensorBoardCallback(SummaryWriter(log_dir=str(stage_dir / "tensorboard")))


def last_complete_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest checkpoint whose save finished (Trainer writes trainer_state.json last)."""
    if not checkpoints_dir.is_dir():
        return None
    done = [
        (int(m.group(1)), p)
        for p in checkpoints_dir.iterdir()
        if (m := _CHECKPOINT.match(p.name)) and (p / "trainer_state.json").is_file()
    ]
    return max(done)[1] if done else None


def train(trainer: Trainer, stage_dir: Path) -> dict[str, Any]:
    """Train, resuming from the last complete checkpoint if a killed run left one; return metrics."""
    resume = last_complete_checkpoint(stage_dir / "checkpoints")
    if resume is not None:
        print(f"resuming from {resume}")
    use_fsdp_on_cpu(trainer)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    history = trainer.state.log_history
    if is_main_process():
        (stage_dir / "log_history.json").write_text(json.dumps(history, indent=1))
    losses = [h["loss"] for h in history if "loss" in h]
    metrics = {
        "train_loss": round(result.training_loss, 4),
        "first_loss": round(losses[0], 4) if losses else math.nan,
        "last_loss": round(losses[-1], 4) if losses else math.nan,
        "steps": result.global_step,
        "resumed_from_step": int(_CHECKPOINT.match(resume.name).group(1)) if resume else 0,
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
        "engine": trainer.accelerator.distributed_type.value,  # NO, MULTI_CPU / MULTI_GPU (DDP), FSDP, DEEPSPEED
        "processes": trainer.accelerator.num_processes,
        "parameters_per_process": held_parameters(trainer.model_wrapped),
    }
    return metrics


def real_tokens_per_second(metrics: dict[str, Any], tokens: int, cfg: TrainSettings) -> float | None:
    """Non-padding tokens trained per second over the whole run, when the run went once through all epochs."""
    if not metrics["train_seconds"] or metrics["resumed_from_step"] or cfg.max_steps != -1:
        return None  # a resumed or step-capped run did not train `tokens x epochs` in that time
    return round(tokens * cfg.epochs / metrics["train_seconds"], 1)


def held_parameters(model: torch.nn.Module) -> int:
    """Parameter elements this process holds: all of them under DDP, its shard under FSDP."""
    return sum((p.to_local() if hasattr(p, "to_local") else p).numel() for p in model.parameters())


def save_trained_model(
    trainer: Trainer,
    tokenizer: Any,
    cfg: TrainSettings,
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
) -> Path:
    """Write the stage's output model: one consolidated HF directory whatever engine trained it.

    Trainer.save_model is the one save every engine supports: it gathers FSDP shards (FULL_STATE_DICT) and
    DeepSpeed ZeRO-3 partitions (16-bit) and writes from the main process; every process must call it. The
    main process then merges a LoRA adapter into a fresh copy of the starting model and writes `model/`
    atomically; the unmerged adapter stays in `adapter/` for users who serve adapters.
    """
    trained = stage_dir / "trained"
    trainer.save_model(str(trained))
    out = stage_dir / "model"
    if not is_main_process():
        return out
    (trained / "training_args.bin").unlink(missing_ok=True)  # a pickle; the Trainer config is in the manifest
    if cfg.finetune == "lora":
        from peft import PeftModel

        adapter = stage_dir / "adapter"
        if adapter.exists():
            shutil.rmtree(adapter)
        trained.rename(adapter)
        tokenizer.save_pretrained(adapter)
        model = PeftModel.from_pretrained(load_model(model_path, model_settings), adapter).merge_and_unload()
    else:
        model = load_model(trained, model_settings)
    save_pretrained_atomic(model, tokenizer, out)
    if trained.exists():
        shutil.rmtree(trained)
    return out
