"""Training precision: which dtype weights are loaded in, whether compute runs under bf16 autocast, and which
dtype a stage's output keeps. Pure functions of the settings and the device, tested on their own.

    precision    trainable weights, grads, AdamW state   compute          frozen LoRA base
    fp32         fp32                                    fp32             fp32
    bf16-mixed   fp32                                    bf16 autocast    bf16
    bf16-pure    bf16                                    bf16             bf16

Why mixed is the default on GPUs: transformers 5's `bf16=True` only turns on autocast; it never upcasts. A model
loaded in bf16 and trained that way is pure bf16, and an AdamW update smaller than half a bf16 step of its weight
(lr 2e-5 against weights near 0.02 is 1/1000 of the weight, and a bf16 step is 1/128 of it) rounds away: on an
H100 the demo's bf16 CPT reached 44.5 on CMExam where fp32 reached 54.0. Keeping fp32 master weights is what
mixed precision means in every framework (torch.amp, FSDP's MixedPrecision, DeepSpeed's bf16 optimizer).
"""

from __future__ import annotations

import torch

from qilin.config import ConfigError

PRECISIONS = ("auto", "fp32", "bf16-mixed", "bf16-pure")
# Bytes a full fine-tune keeps per parameter with AdamW: fp32 weight, fp32 gradient, two fp32 moments.
FP32_ADAMW_BYTES = 16
BF16_ADAMW_BYTES = 8  # bf16-pure: everything in bf16


def gpu_supports_bf16() -> bool:
    """True on a CUDA GPU with bfloat16 (Ampere and later)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_precision(name: str, bf16_device: bool | None = None) -> str:
    """'auto' becomes bf16-mixed where the GPU supports bf16 and fp32 elsewhere (a CPU trains fp32)."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name != "auto":
        return name
    return "bf16-mixed" if (gpu_supports_bf16() if bf16_device is None else bf16_device) else "fp32"


def load_dtype(precision: str, trains_all_weights: bool) -> torch.dtype:
    """The dtype a stage loads its starting weights in.

    bf16-mixed keeps what trains in fp32: a full fine-tune loads everything in fp32 (autocast computes in bf16);
    a LoRA stage loads the frozen base in bf16 (half the memory; it never changes) and peft keeps the adapters in
    fp32 (its `autocast_adapter_dtype`).
    """
    if precision == "fp32" or (precision == "bf16-mixed" and trains_all_weights):
        return torch.float32
    return torch.bfloat16


def uses_autocast(precision: str) -> bool:
    """Whether the Trainer runs forward and backward under bf16 autocast (its `bf16=True`)."""
    return precision in ("bf16-mixed", "bf16-pure")


def output_dtype(precision: str, saved_dtype: torch.dtype, feeds_next_stage: bool) -> torch.dtype:
    """The dtype a stage's output is written in.

    `saved_dtype` is what the recipe asks outputs to be (`model.dtype`). An output another stage starts from keeps
    fp32 when the stage kept fp32 master weights: a LoRA delta or a fine-tuning step below half a bf16 step of its
    weight would otherwise be rounded away between stages. Only the last output is cast (the export).
    """
    if feeds_next_stage and precision != "bf16-pure":
        return torch.float32
    return saved_dtype


def full_finetune_bytes(parameters: int, precision: str) -> int:
    """Bytes of weights, gradients and AdamW state a full fine-tune holds (activations not counted)."""
    return parameters * (BF16_ADAMW_BYTES if precision == "bf16-pure" else FP32_ADAMW_BYTES)


def check_full_finetune_fits(parameters: int, precision: str, device_bytes: int, shards: int, where: str) -> None:
    """Refuse, before any training, a full fine-tune whose weight and optimizer state cannot fit its devices.

    `shards` is how many devices share the state (FSDP full shard or ZeRO-3: all processes; DDP: 1).
    """
    need = full_finetune_bytes(parameters, precision) / shards
    if need <= device_bytes:
        return
    gib = 2**30
    raise ConfigError(
        f"{where}: a full fine-tune of {parameters / 1e9:.2f}B parameters in {precision} keeps {need / gib:.1f} GiB "
        f"of weights, gradients and AdamW state per device, more than the {device_bytes / gib:.1f} GiB it has. "
        "Ways out: shard it over more GPUs (launch.launcher=accelerate launch.engine=fsdp or zero3); "
        "finetune: lora; precision: bf16-pure (half the state, but small updates are rounded away); or an 8-bit "
        "optimizer (bitsandbytes' adamw_8bit)."
    )
