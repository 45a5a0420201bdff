"""The whole SFT stage a user waits for (start, tokenize, train, save), Qilin against trl, each its own process.

    .venv/bin/python benchmarks/sft_stage_wall.py [--conversations 1500] [--steps 2]

Same data (conversations of 8-48 turns from the bundled SFT texts, as benchmarks/sft_tokenization.py makes
them), the demo model and tokenizer, LoRA r16 on all linear layers, rows of 256 tokens, 4 rows a step, fp32:
  qilin        `qilin train sft` (one-pass tokenization, packing, the run's save and LoRA merge); then again with
               another learning rate, which finds the tokenized examples in the cache;
  trl packing  a script with `SFTTrainer(packing=True)` (trl's best setting for this job): tokenize, train, save.
Each is timed as a process (python start and imports included), best of --repeats interleaved rounds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sft_tokenization import make_conversations

ROWS, LENGTH = 4, 256

TRL_SCRIPT = f"""
import json, sys
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer
model_dir, data, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = [json.loads(line) for line in open(data, encoding="utf-8")]
args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size={ROWS}, max_length={LENGTH},
                 packing=True, learning_rate=2e-3, bf16=False, use_cpu=True, gradient_checkpointing=False,
                 save_strategy="no", report_to="none", logging_steps=1000)
lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args,
                     train_dataset=Dataset.from_list(rows), processing_class=AutoTokenizer.from_pretrained(model_dir),
                     peft_config=lora)
trainer.train()
trainer.save_model(out + "/final")
"""


def timed(command: list[str], env: dict | None = None) -> float:
    """Seconds a process takes."""
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1500)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/sft_stage_wall-cpu.json")
    args = parser.parse_args()
    import os

    from qilin.config import load_recipe
    from qilin.embedded.model import build_embedded_model

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        conversations, texts = make_conversations(args.conversations, seed=0, work=work)
        data = work / "sft.jsonl"
        data.write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in conversations))
        recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "demo.yaml")
        model = build_embedded_model(recipe.embedded, texts, work / "model")
        script = work / "trl_sft.py"
        script.write_text(TRL_SCRIPT)
        settings = [f"max_steps={args.steps}", f"batch_size={ROWS}", f"max_length={LENGTH}", "lora.r=16",
                    "lora.alpha=32", "lora.dropout=0.0", "save_steps=100000", "precision=fp32"]  # fmt: skip
        runs: dict[str, list[float]] = {"qilin": [], "qilin, cached examples": [], "trl packing": []}
        for round_ in range(args.repeats):
            env = {**os.environ, "QILIN_CACHE": str(work / f"cache{round_}")}
            qilin = [sys.executable, "-m", "qilin.cli", "-q", "train", "sft", *settings, "--model", str(model)]
            runs["qilin"].append(timed([*qilin, "--data", str(data), "--output", str(work / f"q{round_}")], env))
            again = [*qilin, "learning_rate=1e-3", "--data", str(data), "--output", str(work / f"r{round_}")]
            runs["qilin, cached examples"].append(timed(again, env))
            trl = [sys.executable, str(script), str(model), str(data), str(work / f"t{round_}"), str(args.steps)]
            runs["trl packing"].append(timed(trl))
    best = {name: min(seconds) for name, seconds in runs.items()}
    record = {
        "date": str(date.today()),
        "device": "cpu",
        "conversations": args.conversations,
        "steps": args.steps,
        "rows_per_step": ROWS,
        "max_length": LENGTH,
        "versions": {p: version(p) for p in ("qilin", "torch", "transformers", "trl", "peft")},
        "seconds": runs,
        "best": best,
        "trl_over_qilin": round(best["trl packing"] / best["qilin"], 2),
    }
    for name, seconds in best.items():
        print(f"{name:<24} {seconds:7.2f} s")
    print(f"trl packing / qilin: {record['trl_over_qilin']}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
