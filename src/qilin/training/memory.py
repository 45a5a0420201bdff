"""Whether a stage needs gradient checkpointing: an estimate of its memory against the device's, before it starts.

Checkpointing recomputes every layer's forward in the backward pass: about a third more compute. It pays only
when the activations would not fit otherwise; a 7B LoRA stage at 2048 tokens a row holds ~13.4 GiB of bf16 weights
and ~9 GiB of activations, far below an 80 GB GPU, and should not pay it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

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
