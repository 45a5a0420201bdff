"""Fitting a stage to its GPU before it starts: gradient checkpointing only when memory needs it (an estimate), and
rows per micro-batch from a measured probe, the global batch kept.

Checkpointing recomputes every layer's forward in the backward pass: about a third more compute. It pays only
when the activations would not fit otherwise; a 7B LoRA stage at 2048 tokens a row holds ~13.4 GiB of bf16 weights
and ~9 GiB of activations, far below an 80 GB GPU, and should not pay it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from qilin.config import ModelSettings, TrainSettings
from qilin.log import get_logger
from qilin.training.precision import load_dtype, resolve_precision

log = get_logger(__name__)

# Activation bytes per token per layer in 16-bit with a memory-efficient attention kernel (no T x T scores):
# 34 x hidden size (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models").
ACTIVATION_BYTES_PER_TOKEN_LAYER = 34
# Share of the device a stage may plan to use; the rest is the allocator's fragmentation and CUDA's own workspace.
USABLE_SHARE = 0.85


def activation_bytes(layers: int, hidden: int, vocab: int, tokens: int) -> int:
    """Bytes of activations kept for backward, plus fp32 logits and their gradient, for `tokens` per micro-batch."""
    return layers * tokens * ACTIVATION_BYTES_PER_TOKEN_LAYER * hidden + tokens * vocab * 4 * 2


def state_bytes(parameters: int, trainable: int, precision: str, full: bool) -> int:
    """Bytes of weights, gradients and AdamW state of the stage's trainable and frozen parameters."""
    weight_bytes = torch.finfo(load_dtype(precision, trains_all_weights=full)).bits // 8
    frozen = (parameters - trainable) * weight_bytes
    per_trainable = 8 if precision == "bf16-pure" else 16  # weight, gradient, two AdamW moments
    return frozen + trainable * per_trainable


def needs_checkpointing(state: int, activations: int, device_bytes: int) -> bool:
    """True when state and activations together would not fit the usable part of the device."""
    return state + activations > USABLE_SHARE * device_bytes


def with_checkpointing_decided(
    cfg: TrainSettings, model_path: Path, model_settings: ModelSettings, tokens: int
) -> TrainSettings:
    """`cfg` with gradient_checkpointing resolved to true or false for a stage of `tokens` per micro-batch."""
    full = getattr(cfg, "finetune", "full") == "full"
    precision = resolve_precision(cfg.precision)
    decided = decide_checkpointing(cfg.gradient_checkpointing, model_path, model_settings, tokens, precision, full)
    return dataclasses.replace(cfg, gradient_checkpointing=decided)


def decide_checkpointing(
    setting: bool | str,
    model_path: Path,
    model_settings: ModelSettings,
    tokens_per_micro_batch: int,
    precision: str,
    full: bool,
    lora_share: float = 0.01,
) -> bool:
    """The stage's gradient checkpointing: the recipe's true/false, or for 'auto' the estimate (off on a CPU).

    The model is sized from its config on the meta device (no weights read); a LoRA stage's trainable share is taken
    as `lora_share` of the parameters (r=8-16 on all linear layers is 0.3-1%).
    """
    if setting != "auto":
        return bool(setting)
    if not torch.cuda.is_available():
        return False  # a CPU's memory is the machine's; checkpointing only slows it
    from transformers import AutoConfig, AutoModelForCausalLM

    from qilin.distributed import device_memory_bytes

    config = AutoConfig.from_pretrained(model_path, trust_remote_code=model_settings.trust_remote_code)
    text = getattr(config, "text_config", None) or config
    with torch.device("meta"):
        parameters = sum(p.numel() for p in AutoModelForCausalLM.from_config(text).parameters())
    trainable = parameters if full else int(parameters * lora_share)
    state = state_bytes(parameters, trainable, precision, full)
    acts = activation_bytes(text.num_hidden_layers, text.hidden_size, text.vocab_size, tokens_per_micro_batch)
    decision = needs_checkpointing(state, acts, device_memory_bytes())
    gib = 2**30
    log.info(
        f"gradient checkpointing {'on' if decision else 'off'}: ~{state / gib:.1f} GiB of weights and optimizer state "
        f"+ ~{acts / gib:.1f} GiB of activations for {tokens_per_micro_batch} tokens a micro-batch, against "
        f"{device_memory_bytes() / gib:.1f} GiB"
    )
    return decision


def rows_per_micro_batch(
    batch_size: int, grad_accum: int, fixed_bytes: float, bytes_per_row: float, device_bytes: int
) -> tuple[int, int]:
    """(rows per micro-batch, accumulation steps) with their product kept at batch_size x grad_accum: the largest
    micro-batch that divides it and fits the usable part of the device (1 if none does)."""
    rows = batch_size * grad_accum
    usable = USABLE_SHARE * device_bytes
    micro = next((m for m in range(rows, 0, -1) if rows % m == 0 and fixed_bytes + m * bytes_per_row <= usable), 1)
    return micro, rows // micro


def measure_row_bytes(model: torch.nn.Module, one_row: dict, two_rows: dict) -> tuple[int, int]:
    """(bytes with no row, bytes a row adds): peak CUDA memory of a forward and backward on one and on two rows."""
    model.to(torch.device("cuda", torch.cuda.current_device()))
    peaks = []
    for batch in (one_row, two_rows):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        loss = model(**{k: v.to(model.device) for k, v in batch.items() if k in _MODEL_INPUTS}).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated())
    torch.cuda.empty_cache()
    per_row = max(peaks[1] - peaks[0], 1)
    return peaks[0] - per_row, per_row


_MODEL_INPUTS = ("input_ids", "attention_mask", "position_ids", "labels")


def _on_gpu() -> bool:
    return torch.cuda.is_available()


def fit_rows_to_memory(cfg: TrainSettings, model: torch.nn.Module, dataset: Any, collator: Any) -> dict[str, int]:
    """On a GPU with `fit_batch_to_memory`: TrainingArguments overrides that split batch_size x grad_accum into the
    largest micro-batch the measured memory allows (the global batch is kept; the choice is printed). Else {}.

    AdamW's two moments do not exist yet when the probe runs, so their fp32 bytes are added to the measurement.
    """
    if not (cfg.fit_batch_to_memory and _on_gpu() and len(dataset) >= 2):
        return {}
    from qilin.distributed import device_memory_bytes

    fixed, per_row = measure_row_bytes(model, collator([dataset[0]]), collator([dataset[0], dataset[1]]))
    fixed += 8 * sum(p.numel() for p in model.parameters() if p.requires_grad)
    micro, accum = rows_per_micro_batch(cfg.batch_size, cfg.grad_accum, fixed, per_row, device_memory_bytes())
    gib = 2**30
    log.info(
        f"rows per step: {micro} a micro-batch x {accum} accumulated (batch_size x grad_accum = "
        f"{cfg.batch_size * cfg.grad_accum} kept; measured {fixed / gib:.1f} GiB + {per_row / gib:.2f} GiB a row)"
    )
    return {"per_device_train_batch_size": micro, "gradient_accumulation_steps": accum}
