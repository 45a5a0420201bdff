"""Training throughput of a 7B-class model on one GPU: CPT (full) and LoRA SFT at block 2048.

    .venv/bin/python benchmarks/gpu_throughput.py                 # on a GPU: writes benchmarks/results/
    .venv/bin/python benchmarks/gpu_throughput.py --size tiny     # a CPU smoke run of the same code (the tests run it)
    .venv/bin/python benchmarks/gpu_throughput.py --attn sdpa     # against the default training kernel

The model is Llama-2-7B's architecture built from its config with random weights (speed does not depend on
the values). Both runs go through Qilin's own pieces: the stage's TrainingArguments
(`qilin.training.trainer.stage_arguments`: precision, checkpointing, compile), LoRA from `qilin.models.lora`,
the attention kernel `model.attn_implementation: auto` picks for training, packed rows whose position ids restart
per document / conversation (as the CPT and SFT stages feed them):
  cpt  full fine-tuning, every row one 2048-token block of several documents, in bf16-pure (fp32 master weights
       and AdamW state for 7B are 100 GiB, more than one 80 GB GPU holds; a real run shards them with FSDP);
  sft  LoRA r16 on all linear layers in bf16-mixed (frozen bf16 base, fp32 adapters, bf16 autocast), rows of
       2048 tokens packed from conversations of 100-1500 tokens.
Gradient checkpointing is Qilin's 'auto' estimate unless --checkpointing says otherwise.
Reported: tokens/s (real tokens, timed after 3 warm-up steps), MFU and peak GPU memory. MFU counts
6 N + 12 L d T FLOPs per token for full training and 4 N + 12 L d T for LoRA (frozen weights need no
weight gradients), over the GPU's dense bf16 peak (989 TFLOPS for an H100 SXM).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainerCallback

from qilin.config import CptSettings, LoraSettings, ModelSettings, SftSettings
from qilin.models.loading import resolve_attention
from qilin.models.lora import attach_lora
from qilin.training import memory
from qilin.training.precision import load_dtype, resolve_precision
from qilin.training.trainer import stage_arguments

SIZES = {
    "7b": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32},
    "tiny": {"hidden_size": 128, "intermediate_size": 344, "num_hidden_layers": 2, "num_attention_heads": 4},
}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def packed_rows(n_rows: int, block: int, lengths: tuple[int, int], vocab: int, seed: int) -> list[dict]:
    """Rows of `block` tokens cut into documents of random lengths; position ids restart per document."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n_rows):
        positions: list[int] = []
        while len(positions) < block:
            positions += range(min(rng.randint(*lengths), block - len(positions)))
        ids = torch.randint(3, vocab, (block,))
        rows.append({"input_ids": ids, "position_ids": torch.tensor(positions), "labels": ids.clone()})
    return rows


class StepTimer(TrainerCallback):
    """Wall time of the steps after the warm-up ones (CUDA synchronised)."""

    def __init__(self, warmup: int):
        self.warmup, self.started, self.timed_steps = warmup, 0.0, 0

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.warmup:
            self.started = time.perf_counter()
        elif state.global_step > self.warmup:
            self.timed_steps += 1
            self.seconds = time.perf_counter() - self.started


def measure(kind: str, size: str, steps: int, block: int, batch: int, work: Path, options: argparse.Namespace) -> dict:
    """Train `steps` steps of CPT or LoRA SFT; tokens/s, MFU, peak memory."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, max_position_embeddings=4096, **SIZES[size])
    full = kind == "cpt"
    gpu = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    precision = resolve_precision(("bf16-pure" if full else "bf16-mixed") if gpu else "fp32")
    dtype = load_dtype(precision, trains_all_weights=full)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    model.config.use_cache = False
    attention = resolve_attention(options.attn, dtype, training=True)
    model.config._attn_implementation = attention
    n_params = sum(p.numel() for p in model.parameters())
    trainable = n_params if full else 0
    lengths = (200, 4000) if full else (100, 1500)
    if not full:
        model = attach_lora(model, LoraSettings(r=16, alpha=32, dropout=0.0))
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    checkpointing = {"on": True, "off": False}.get(options.checkpointing)
    if checkpointing is None:
        state = memory.state_bytes(n_params, trainable, precision, full)
        acts = memory.activation_bytes(config.num_hidden_layers, config.hidden_size, config.vocab_size, block * batch)
        free = torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else 1 << 50
        checkpointing = memory.needs_checkpointing(state, acts, free)
    if checkpointing and not full:
        model.enable_input_require_grads()
    common = dict(
        batch_size=batch, max_steps=steps, save_steps=10**9, logging_steps=10**9, warmup_ratio=0.0,
        precision=precision, gradient_checkpointing=checkpointing, torch_compile=options.compile,
    )  # fmt: skip
    cfg = (
        CptSettings(finetune="full", learning_rate=1e-5, **common)
        if full
        else SftSettings(learning_rate=1e-4, **common)
    )
    args = stage_arguments(cfg, work / kind, ModelSettings())
    timer = StepTimer(warmup=3)
    rows = packed_rows(steps * batch, block, lengths, config.vocab_size, seed=1)
    trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=[timer])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    tokens_per_second = timer.timed_steps * batch * block / timer.seconds
    L, d = config.num_hidden_layers, config.hidden_size
    flops_per_token = (6 if kind == "cpt" else 4) * n_params + 12 * L * d * block
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    return {
        "run": kind,
        "precision": precision,
        "attention": attention,
        "gradient_checkpointing": checkpointing,
        "torch_compile": options.compile,
        "parameters": n_params,
        "block": block,
        "batch": batch,
        "timed_steps": timer.timed_steps,
        "tokens_per_second": round(tokens_per_second, 1),
        "mfu": round(tokens_per_second * flops_per_token / (peak * 1e12), 4) if peak else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="7b")
    parser.add_argument("--steps", type=int, default=13, help="optimizer steps per run (3 of them warm-up)")
    parser.add_argument("--block", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=1, help="rows per step")
    parser.add_argument("--attn", default="auto", help="attention kernel (default: what Qilin picks for training)")
    parser.add_argument("--checkpointing", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON record")
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("cpt", "sft"):
            results.append(measure(kind, args.size, args.steps, args.block, args.batch, Path(tmp), args))
            print(json.dumps(results[-1]))
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    import transformers
    import trl

    versions = {"qilin": version("qilin"), "torch": torch.__version__, "transformers": transformers.__version__}
    versions["trl"] = trl.__version__
    record = {"date": str(date.today()), "device": device, "size": args.size, "versions": versions, "results": results}
    out = Path(args.out) / f"gpu_throughput-{date.today()}-{device.replace(' ', '_')}-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
