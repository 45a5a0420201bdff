"""Training a stage: resume from the last complete checkpoint, train, and report the run's metrics."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer

from qilin.config import TrainSettings
from qilin.distributed import is_main_process, use_fsdp_on_cpu
from qilin.log import get_logger

log = get_logger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


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
        log.info(f"resuming from {resume}")
    use_fsdp_on_cpu(trainer)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    history = trainer.state.log_history
    if is_main_process():
        (stage_dir / "log_history.json").write_text(json.dumps(history, indent=1))
    losses = [h["loss"] for h in history if "loss" in h]
    return {
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


def real_tokens_per_second(metrics: dict[str, Any], tokens: int, cfg: TrainSettings) -> float | None:
    """Non-padding tokens trained per second over the whole run, when the run went once through all epochs."""
    if not metrics["train_seconds"] or metrics["resumed_from_step"] or cfg.max_steps != -1:
        return None  # a resumed or step-capped run did not train `tokens x epochs` in that time
    return round(tokens * cfg.epochs / metrics["train_seconds"], 1)


def held_parameters(model: torch.nn.Module) -> int:
    """Parameter elements this process holds: all of them under DDP, its shard under FSDP."""
    return sum((p.to_local() if hasattr(p, "to_local") else p).numel() for p in model.parameters())
