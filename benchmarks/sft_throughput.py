"""SFT training throughput: Qilin's SFT stage against a plain trl SFTTrainer, side by side in one run.

    .venv/bin/python benchmarks/sft_throughput.py [--conversations 1500] [--out benchmarks/results/sft_cpu.json]

All runs train the demo recipe's model (the embedded 2.3M-parameter Llama, LoRA r16 as in recipes/demo.yaml)
on the same conversations of the bundled miniature ChiMed SFT set for one epoch, same learning rate, about
16 conversations a step:
  qilin          our stage as recipes/demo.yaml runs it: conversations packed into rows of max_length (no
                 attention across them), 3 rows (~16 conversations) a step, loss on assistant turns;
  qilin b16      the same with 16 rows a step (fewer, larger steps);
  trl default    `SFTTrainer` with `SFTConfig` defaults (padding, gradient checkpointing and bf16 on, as trl
                 ships them), the same LoRA;
  trl tuned      the same without gradient checkpointing and in float32 like ours, to show what packing
                 alone brings.
Real tokens are the conversations' tokens (no padding); tokens/s = real tokens / training time (the Trainer's
train_runtime: the training loop, not loading or saving), best of --repeats interleaved rounds. The ratio
is qilin over each trl run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

TRL_BATCH = 16  # conversations per step for trl (the demo's SFT batch before packing)


def _model_and_data(work: Path, n: int) -> tuple[Path, Path, object]:
    from qilin.config import load_recipe
    from qilin.data.text.formats import read_file
    from qilin.embedded.chimed import build_embedded
    from qilin.embedded.model import build_embedded_model

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "demo.yaml")
    conversations = read_file(build_embedded(work / "data")["sft"], "sft")[:n]
    data = work / "sft.jsonl"
    data.write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in conversations))
    texts = [m["content"] for c in conversations for m in c]
    model = build_embedded_model(recipe.embedded, texts, work / "model")
    return model, data, recipe.stages.sft


def run_qilin(model: Path, data: Path, sft_cfg, out: Path, batch_size: int | None = None) -> dict:
    """Our stage as the recipe runs it (optionally another batch size); returns real tokens and seconds."""
    from dataclasses import replace

    from qilin.config import ModelSettings
    from qilin.stages import sft
    from qilin.stages.protocol import StageContext

    cfg = replace(sft_cfg, data=[str(data)], epochs=1.0, save_steps=100_000, logging_steps=1000)
    cfg.batch_size = batch_size or cfg.batch_size
    metrics = sft.run(StageContext(cfg, [data], ["bench"], model, ModelSettings(), out))
    return {"tokens": metrics["tokens"], "seconds": metrics["train_seconds"], "steps": metrics["steps"]}


def run_trl(model_dir: Path, data: Path, sft_cfg, out: Path, tuned: bool) -> dict:
    """trl's SFTTrainer on the same conversations; only what must be set is set (plus `tuned` changes)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = [json.loads(line) for line in data.read_text().splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    extra = {"gradient_checkpointing": False, "bf16": False} if tuned else {}
    if not torch.cuda.is_available():
        extra["use_cpu"] = True  # trl's default bf16=True refuses to start on a CPU-only machine without it
    args = SFTConfig(
        output_dir=str(out),
        num_train_epochs=1,
        per_device_train_batch_size=TRL_BATCH,
        learning_rate=sft_cfg.learning_rate,
        save_strategy="no",
        report_to="none",
        logging_steps=1000,
        **extra,
    )
    lora = LoraConfig(
        r=sft_cfg.lora.r, lora_alpha=sft_cfg.lora.alpha, lora_dropout=sft_cfg.lora.dropout, target_modules="all-linear"
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, peft_config=lora
    )
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    result = trainer.train()
    return {"tokens": tokens, "seconds": round(result.metrics["train_runtime"], 1), "steps": result.global_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1500, help="conversations trained on (one epoch)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best time of each run counts")
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, data, sft_cfg = _model_and_data(work, args.conversations)
        runs = {
            # the recipe's batch: 3 packed rows of ~5 conversations, about trl's 16 conversations a step
            "qilin": lambda out: run_qilin(model, data, sft_cfg, out),
            "qilin b16": lambda out: run_qilin(model, data, sft_cfg, out, batch_size=TRL_BATCH),
            "trl default": lambda out: run_trl(model, data, sft_cfg, out, tuned=False),
            "trl tuned": lambda out: run_trl(model, data, sft_cfg, out, tuned=True),
        }
        results: dict[str, dict] = {}
        for round_ in range(args.repeats):  # interleaved rounds, best time kept: a busy moment hits one round
            for name, run in runs.items():
                r = run(work / f"{name.replace(' ', '_')}-{round_}")
                if name not in results or r["seconds"] < results[name]["seconds"]:
                    results[name] = r
    for r in results.values():
        r["tokens_per_second"] = round(r["tokens"] / r["seconds"], 1)
    ours = results["qilin"]["tokens_per_second"]
    print(
        f"\nSFT, {args.conversations} conversations, 1 epoch, LoRA r{sft_cfg.lora.r}, trl batch {TRL_BATCH}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    print(f"{'run':<12} {'real tokens':>11} {'steps':>6} {'seconds':>8} {'tokens/s':>9} {'qilin is':>9}")
    for name, r in results.items():
        ratio = ours / r["tokens_per_second"]
        print(
            f"{name:<12} {r['tokens']:>11} {r['steps']:>6} {r['seconds']:>8} {r['tokens_per_second']:>9} {ratio:>8.2f}x"
        )
    if args.out:
        record = {"date": str(date.today()), "device": f"CPU, {os.cpu_count()} cores", "results": results,
                  "ratio_vs_trl_default": round(ours / results["trl default"]["tokens_per_second"], 2),
                  "ratio_vs_trl_tuned": round(ours / results["trl tuned"]["tokens_per_second"], 2),
                  "measured_at": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
