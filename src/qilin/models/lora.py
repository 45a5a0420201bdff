"""LoRA attach and merge (peft): one place, so every stage shapes and merges adapters the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel

from qilin.config import LoraSettings


def attach_lora(model: PreTrainedModel, settings: LoraSettings) -> PeftModel:
    """Wrap `model` with fresh LoRA adapters; only the adapters train."""
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def merge_adapter(model: PeftModel, adapter_dir: Path, tokenizer: Any) -> PreTrainedModel:
    """Save the unmerged adapter to `adapter_dir` (kept for users who serve adapters), return merged weights."""
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    return model.merge_and_unload()


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
