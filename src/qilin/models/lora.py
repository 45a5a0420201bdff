"""LoRA attach and merge (peft): every stage, text or vision, shapes and merges its adapters here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel

from qilin.config import LoraSettings


def attach_lora(
    model: PreTrainedModel,
    settings: LoraSettings,
    target_modules: str | list[str] | None = None,
    modules_to_save: list[str] | None = None,
    task_type: str | None = "CAUSAL_LM",
) -> PeftModel:
    """Wrap `model` with fresh LoRA adapters; only the adapters (and `modules_to_save`, trained whole) train.

    `target_modules` overrides the settings' (the VL stage names the LLM's linear layers so the vision tower and
    projector get none); a VL model is no plain causal LM, so it passes `task_type=None`.
    """
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=target_modules if target_modules is not None else settings.target_modules,
        modules_to_save=modules_to_save,
        task_type=task_type,
    )
    return get_peft_model(model, config)


def merge_saved_adapter(base: PreTrainedModel, adapter_dir: Path) -> PreTrainedModel:
    """The base model with the adapter saved in `adapter_dir` merged into its weights."""
    return PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()


def merge_adapter(model: PeftModel, adapter_dir: Path, tokenizer: Any) -> PreTrainedModel:
    """Save the unmerged adapter to `adapter_dir` (kept for users who serve adapters), return merged weights."""
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    return model.merge_and_unload()
