"""Building what a stage trains with: the starting model (LoRA attached) and one Trainer construction.

Every stage, text or vision, builds its Trainer through `build_trainer`, so the arguments (from the stage's
typed config), the TensorBoard writer in the stage directory and the seeds are the same everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter
from transformers import PreTrainedModel, Trainer, TrainingArguments, set_seed
from transformers.integrations import TensorBoardCallback

from qilin.config import FinetuneSettings, ModelSettings, TrainSettings
from qilin.models.loading import load_model, resolve_dtype
from qilin.models.lora import attach_lora


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


def build_model(model_path: Path, model_settings: ModelSettings, cfg: FinetuneSettings) -> PreTrainedModel:
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


def build_trainer(
    cfg: TrainSettings,
    stage_dir: Path,
    model_settings: ModelSettings,
    model: Any,
    train_dataset: Any,
    *,
    trainer_class: type[Trainer] = Trainer,
    args: TrainingArguments | None = None,
    extra_args: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> Trainer:
    """The stage's Trainer (or a subclass such as trl's DPOTrainer, with its config class passed as `args`).

    `args` defaults to TrainingArguments from the stage config plus `extra_args`; pass it built when it must
    exist earlier (creating it joins the launched processes).
    """
    if args is None:
        args = TrainingArguments(**training_arguments(cfg, stage_dir, model_settings), **(extra_args or {}))
    return trainer_class(
        model=model,
        args=args,
        train_dataset=train_dataset,
        callbacks=[tensorboard_callback(stage_dir)],
        **trainer_kwargs,
    )
