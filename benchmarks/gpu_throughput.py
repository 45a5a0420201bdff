"""Training throughput of a 7B-class model on one GPU: CPT (full) and LoRA SFT at block 2048 in bf16.

    .venv/bin/python benchmarks/gpu_throughput.py                 # on a GPU: writes benchmarks/results/
    .venv/bin/python benchmarks/gpu_throughput.py --size tiny     # a CPU smoke run of the same code

The model is Llama-2-7B's architecture built from its config with random weights (speed does not depend on
the values), in bf16, SDPA attention, gradient checkpointing. Both runs go through Qilin's own pieces: the
stage's TrainingArguments (`qilin.training.trainer.training_arguments`), LoRA from `qilin.models.lora`, packed
rows whose position ids restart per document / conversation (as the CPT and SFT stages feed them):
  cpt  full fine-tuning, every row one 2048-token block of several documents; AdamW states in bf16 (fp32
       states for 7B would need 84 GB with the weights and gradients; a real run shards them with FSDP);
  sft  LoRA r16 on all linear layers, rows of 2048 tokens packed from conversations of 100-1500 tokens.
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
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments

from qilin.config import CptSettings, LoraSettings, ModelSettings, SftSettings
from qilin.models.lora import attach_lora
from qilin.training.trainer import training_arguments

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


def measure(kind: str, size: str, steps: int, block: int, batch: int, work: Path) -> dict:
    """Train `steps` steps of CPT or LoRA SFT; tokens/s, MFU, peak memory."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, max_position_embeddings=4096, **SIZES[size])
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    model.config.use_cache = False
    model.config._attn_implementation = "sdpa"
    n_params = sum(p.numel() for p in model.parameters())
    settings = ModelSettings(dtype="bfloat16" if dtype == torch.bfloat16 else "float32")
    common = dict(batch_size=batch, max_steps=steps, save_steps=10**9, logging_steps=10**9, warmup_ratio=0.0)
    if kind == "cpt":
        cfg = CptSettings(finetune="full", gradient_checkpointing=True, learning_rate=1e-5, **common)
        lengths = (200, 4000)
    else:
        cfg = SftSettings(finetune="lora", gradient_checkpointing=True, learning_rate=1e-4, **common)
        lengths = (100, 1500)
        model = attach_lora(model, LoraSettings(r=16, alpha=32, dropout=0.0))
        model.enable_input_require_grads()
    args = training_arguments(cfg, work / kind, settings)
    timer = StepTimer(warmup=3)
    rows = packed_rows(steps * batch, block, lengths, config.vocab_size, seed=1)
    trainer = Trainer(model=model, args=TrainingArguments(**args), train_dataset=rows, callbacks=[timer])
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
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON record")
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("cpt", "sft"):
            results.append(measure(kind, args.size, args.steps, args.block, args.batch, Path(tmp)))
            print(json.dumps(results[-1]))
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    record = {"date": str(date.today()), "device": device, "size": args.size, "results": results}
    out = Path(args.out) / f"gpu_throughput-{date.today()}-{device.replace(' ', '_')}-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
