"""Building what a stage trains with: the starting model (LoRA attached), its arguments and one Trainer construction.

Every stage, text or vision, builds its arguments with `stage_arguments` (the recipe's values, then the stage's
own keys) and its Trainer with `build_trainer`, so the arguments, the TensorBoard writer in the stage directory
and the seeds are the same everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter
from transformers import PreTrainedModel, Trainer, TrainingArguments, set_seed
from transformers.integrations import TensorBoardCallback

from qilin.config import FinetuneSettings, ModelSettings, TrainSettings
from qilin.distributed import device_memory_bytes, state_shards
from qilin.log import get_logger
from qilin.models.loading import load_model
from qilin.models.lora import attach_lora
from qilin.training.precision import check_full_finetune_fits, load_dtype, resolve_precision, uses_autocast

log = get_logger(__name__)


def training_arguments(cfg: TrainSettings, stage_dir: Path, model_settings: ModelSettings) -> dict[str, Any]:
    """The recipe's values as keyword arguments shared by transformers.TrainingArguments and trl's configs."""
    autocast = uses_autocast(resolve_precision(cfg.precision))
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
        "torch_compile": cfg.torch_compile,
        "bf16": autocast,  # autocast only: weights keep the dtype they were loaded in
        # transformers refuses bf16 without a GPU unless told the CPU is meant (CPU autocast runs bf16 fine)
        **({"use_cpu": True} if autocast and not torch.cuda.is_available() else {}),
        "save_strategy": "steps",
        "save_steps": cfg.save_steps,
        "save_total_limit": cfg.save_total_limit,
        "logging_steps": cfg.logging_steps,
        "logging_first_step": True,
        "seed": cfg.seed,
        # TensorBoard is attached explicitly, writing into the stage directory; the recipe's trackers come on top
        "report_to": [t for t in cfg.report_to if t != "tensorboard"] or "none",
        "run_name": f"{stage_dir.parent.name}-{stage_dir.name}",  # runs/demo/sft -> demo-sft, as `qilin serve` names it
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": torch.cuda.is_available(),
        "remove_unused_columns": False,
        "ddp_find_unused_parameters": False,  # every trainable weight is used in every step; skips a graph walk
    }


def stage_arguments(
    cfg: TrainSettings,
    stage_dir: Path,
    model_settings: ModelSettings,
    config_class: type[TrainingArguments] = TrainingArguments,
    **stage_keys: Any,
) -> TrainingArguments:
    """The one way a stage's training arguments are built: the recipe's values, then the stage's own keys.

    `config_class` is TrainingArguments or a trl config (DPOConfig, ...); `stage_keys` are what only that stage
    sets (trl's beta and max_length, the memory fit's micro-batch split, a sampling strategy), and they win over
    the recipe's values they name.
    """
    return config_class(**{**training_arguments(cfg, stage_dir, model_settings), **stage_keys})


def build_model(model_path: Path, model_settings: ModelSettings, cfg: FinetuneSettings) -> PreTrainedModel:
    """The stage's starting model in its training dtype, with LoRA adapters attached when it is a LoRA stage."""
    precision = resolve_precision(cfg.precision)
    full = cfg.finetune == "full"
    model = load_model(model_path, model_settings, dtype=load_dtype(precision, trains_all_weights=full), training=True)
    if full:
        parameters = sum(p.numel() for p in model.parameters())
        check_full_finetune_fits(parameters, precision, device_memory_bytes(), state_shards(), str(model_path))
    if precision == "bf16-pure":
        log.warning(
            "precision bf16-pure: weights, gradients and AdamW state in bf16; updates smaller than half a bf16 step "
            "of their weight are rounded away (use bf16-mixed unless memory forbids it)"
        )
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
    stage_dir: Path,
    model: Any,
    train_dataset: Any,
    args: TrainingArguments,
    *,
    trainer_class: type[Trainer] = Trainer,
    **trainer_kwargs: Any,
) -> Trainer:
    """The stage's Trainer (or a subclass such as trl's DPOTrainer) on `args` from `stage_arguments`."""
    return _without_arguments_pickle(trainer_class)(
        model=model,
        args=args,
        train_dataset=train_dataset,
        callbacks=[tensorboard_callback(stage_dir)],
        **trainer_kwargs,
    )


def _without_arguments_pickle(trainer_class: type[Trainer]) -> type[Trainer]:
    """`trainer_class` whose saves skip `training_args.bin`.

    transformers 5 pickles the whole TrainingArguments into every checkpoint and final save (`torch.save(self.args)`
    in Trainer._save), which took 25 s of a 0.6B SFT stage on an H100 and is a pickle nobody should load; resuming
    does not read it, and the stage's config is in the manifest. There is no option to turn it off, so the save
    runs with torch.save skipping that one object.
    """

    class WithoutArgumentsPickle(trainer_class):
        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            save = torch.save

            def save_all_but_arguments(obj: Any, *args: Any, **kwargs: Any) -> None:
                if obj is not self.args:
                    save(obj, *args, **kwargs)

            torch.save = save_all_but_arguments
            try:
                super()._save(output_dir, state_dict)
            finally:
                torch.save = save

    WithoutArgumentsPickle.__name__ = WithoutArgumentsPickle.__qualname__ = trainer_class.__name__
    return WithoutArgumentsPickle
