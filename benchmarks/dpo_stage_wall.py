"""The whole DPO stage a user waits for, Qilin's packed DPO against trl's DPOTrainer, each run its own process.

    .venv/bin/python benchmarks/dpo_stage_wall.py [--pairs 200] [--max-length 1024] [--repeats 1] [--kinds multi single]

Same pairs, beta 0.1, LoRA r16 (alpha 32, no dropout, all linear layers), 8 pairs a step, one epoch, fp32, the demo
model (a tiny Llama with a tokenizer trained on the texts), on whatever device torch finds:
  qilin packed          `qilin train dpo` as a user runs it (packed shared-prefix pairs, reference log-probs scored
                        once and cached, LoRA merged and saved)
  qilin padded          the same with packing=false (trl's layout), to show what packing alone buys
  trl defaults          a script with `DPOTrainer` and its defaults (reference scored every step): tokenize, train, save
  trl precompute        the same with `precompute_ref_log_probs=True`, trl's fastest setting for LoRA
Pairs: 'multi' are multi-turn (2-6 earlier rounds from the bundled SFT texts before the question: the prompt is
most of the tokens); 'single' are the bundled ChiMed preference pairs. Prints, per kind: process wall time and pairs/s
over the whole stage (python start, imports, tokenize, train, save), pairs/s over the training loop (`train()`: the
optimizer steps; both score the reference before it when precomputing), peak memory (max RSS on CPU, peak allocated
on CUDA), and the prompt share of the tokens trl computes. Dense masks (sdpa, as on a CPU) cost the square of a row's
length, so rows are only as long as the batch's longest pair (`pack_row_tokens: 0`); flex_attention on CUDA skips
the masked blocks and takes the whole batch in one row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sft_tokenization import bundled_turns

BATCH, BETA, LR = 8, 0.1, 5e-4

# Peak memory and the loop time of the process it runs in, printed as one JSON line at exit.
PEAK = """
import atexit, json, resource, sys
def _report():
    import torch
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("BENCH " + json.dumps({"peak_bytes": peak, "train_runtime": _state.get("train_runtime")}), file=sys.stderr)
_state = {}
atexit.register(_report)
"""

TRL_SCRIPT = (
    PEAK
    + f"""
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer
model_dir, data, out, precompute, max_length = sys.argv[1:6]
rows = [json.loads(line) for line in open(data, encoding="utf-8")]
user = lambda p: p if isinstance(p, list) else [{{"role": "user", "content": p}}]
rows = [{{"prompt": user(r["prompt"]), "chosen": [{{"role": "assistant", "content": r["chosen"]}}],
         "rejected": [{{"role": "assistant", "content": r["rejected"]}}]}} for r in rows]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
args = DPOConfig(output_dir=out, num_train_epochs=1, per_device_train_batch_size={BATCH}, max_length=int(max_length),
                 beta={BETA}, learning_rate={LR}, precompute_ref_log_probs=precompute == "1", bf16=False,
                 gradient_checkpointing=False, save_strategy="no", report_to="none", logging_steps=1000)
lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args, processing_class=tokenizer,
                     train_dataset=Dataset.from_list(rows), peft_config=lora)
import time as _t
_start = _t.perf_counter()
result = trainer.train()
_state["train_runtime"] = _t.perf_counter() - _start
trainer.save_model(out + "/final")
"""
)

# `qilin train dpo` in this process, its loop timed as trl's is: Trainer.train(), after the constructor that
# scores the reference in both.
QILIN_SCRIPT = (
    PEAK
    + """
import runpy, time
import transformers
_train = transformers.Trainer.train
def _timed_train(self, *a, **k):
    start = time.perf_counter()
    try:
        return _train(self, *a, **k)
    finally:
        _state["train_runtime"] = time.perf_counter() - start
transformers.Trainer.train = _timed_train
sys.argv = ["qilin", *sys.argv[1:]]
runpy.run_module("qilin.cli", run_name="__main__")
"""
)


def multi_turn_pairs(n: int, seed: int, work: Path) -> tuple[list[dict], list[str]]:
    """`n` pairs whose prompt holds 2-6 earlier rounds; chosen and rejected are answers from the bundled SFT texts."""
    questions, answers = bundled_turns(work)
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        prompt = [{"role": "system", "content": "你是一名医生，请回答患者的问题。"}]
        for _ in range(rng.randint(2, 6)):
            prompt += [{"role": "user", "content": rng.choice(questions)}]
            prompt += [{"role": "assistant", "content": rng.choice(answers)}]
        prompt.append({"role": "user", "content": rng.choice(questions)})
        pairs.append({"prompt": prompt, "chosen": rng.choice(answers), "rejected": rng.choice(answers)})
    return pairs, questions + answers


def single_turn_pairs(n: int, work: Path) -> list[dict]:
    """The first `n` bundled ChiMed preference pairs."""
    from qilin.embedded.chimed import build_embedded

    lines = build_embedded(work / "chimed")["dpo"].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:n]]


def prompt_share(model: Path, pairs: list[dict], max_length: int) -> dict[str, float]:
    """Tokens trl computes (prompt twice, each branch truncated as trl does) and the prompt's share of them."""
    from qilin.config import ModelSettings
    from qilin.models.loading import load_tokenizer

    tokenizer = load_tokenizer(model, ModelSettings())
    prompt_tokens = answer_tokens = packed_tokens = 0
    for pair in pairs:
        prompt = pair["prompt"] if isinstance(pair["prompt"], list) else [{"role": "user", "content": pair["prompt"]}]
        p = len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)["input_ids"])
        if p >= max_length:
            continue  # trl drops it
        for answer in (pair["chosen"], pair["rejected"]):
            full = tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], tokenize=True)
            answer_tokens += min(len(full["input_ids"]), max_length) - p
        prompt_tokens += 2 * p
        packed_tokens += p + 1
    packed_tokens += answer_tokens
    return {
        "prompt_share": round(prompt_tokens / (prompt_tokens + answer_tokens), 3),
        "packed_over_trl_tokens": round(packed_tokens / (prompt_tokens + answer_tokens), 3),
    }


def run(command: list[str], env: dict) -> dict:
    """Wall seconds, peak bytes and loop seconds of one process."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")
    report = json.loads(next(line for line in done.stderr.splitlines() if line.startswith("BENCH "))[6:])
    return {"wall_s": round(seconds, 2), **report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--kinds", nargs="+", default=["multi", "single"], choices=("multi", "single"))
    parser.add_argument("--out", default="benchmarks/results/dpo_stage_wall-cpu.json")
    args = parser.parse_args()
    import torch

    from qilin.config import load_recipe
    from qilin.embedded.model import build_embedded_model

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    record: dict = {"date": str(date.today()), "device": device, "pairs": args.pairs, "pairs_per_step": BATCH}
    record["max_length"] = args.max_length
    record["versions"] = {p: version(p) for p in ("qilin", "torch", "transformers", "trl", "peft")}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        multi, texts = multi_turn_pairs(args.pairs, seed=0, work=work)
        recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "demo.yaml")
        model = build_embedded_model(recipe.embedded, texts, work / "model")
        (work / "trl_dpo.py").write_text(TRL_SCRIPT)
        (work / "qilin_dpo.py").write_text(QILIN_SCRIPT)
        settings = [f"batch_size={BATCH}", f"max_length={args.max_length}", f"beta={BETA}", f"learning_rate={LR}",
                    "epochs=1", "lora.r=16", "lora.alpha=32", "lora.dropout=0.0", "save_steps=100000",
                    "precision=fp32", "warmup_ratio=0", "logging_steps=1000"]  # fmt: skip
        for kind in args.kinds:
            pairs = multi if kind == "multi" else single_turn_pairs(args.pairs, work)
            data = work / f"{kind}.jsonl"
            data.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
            variants = {
                "qilin packed": [sys.executable, str(work / "qilin_dpo.py"), "-q", "train", "dpo", *settings],
                "qilin padded": [
                    sys.executable,
                    str(work / "qilin_dpo.py"),
                    "-q",
                    "train",
                    "dpo",
                    *settings,
                    "packing=false",
                ],
                "trl defaults": [sys.executable, str(work / "trl_dpo.py"), str(model), str(data)],
                "trl precompute": [sys.executable, str(work / "trl_dpo.py"), str(model), str(data)],
            }
            runs: dict[str, list[dict]] = {name: [] for name in variants}
            for round_ in range(args.repeats):
                for name, command in variants.items():
                    out = work / f"{kind}-{name.replace(' ', '-')}-{round_}"
                    env = {**os.environ, "QILIN_CACHE": str(out / "cache")}
                    if name.startswith("qilin"):
                        command = [*command, "--model", str(model), "--data", str(data), "--output", str(out)]
                    else:
                        command = [*command, str(out), "1" if "precompute" in name else "0", str(args.max_length)]
                    runs[name].append(run(command, env))
                    print(f"{kind} {name}: {runs[name][-1]}", file=sys.stderr)
            best = {name: min(r, key=lambda x: x["wall_s"]) for name, r in runs.items()}
            table = {
                name: {
                    **r,
                    "stage_pairs_per_s": round(args.pairs / r["wall_s"], 2),
                    "loop_pairs_per_s": round(args.pairs / r["train_runtime"], 2),
                    "peak_mib": round(r["peak_bytes"] / 2**20),
                }
                for name, r in best.items()
            }
            packed = table["qilin packed"]["wall_s"]
            record[kind] = {
                **prompt_share(model, pairs, args.max_length),
                "runs": table,
                "speedup_vs_trl_defaults": round(table["trl defaults"]["wall_s"] / packed, 2),
                "speedup_vs_trl_precompute": round(table["trl precompute"]["wall_s"] / packed, 2),
                "loop_speedup_vs_trl_precompute": round(
                    table["trl precompute"]["train_runtime"] / table["qilin packed"]["train_runtime"], 2
                ),
            }
            print(f"\n{kind}-turn pairs: prompt share {record[kind]['prompt_share']:.0%} of the tokens trl computes")
            print(f"{'':<16}{'wall s':>8}{'pairs/s':>9}{'loop pairs/s':>14}{'peak MiB':>10}")
            for name, r in table.items():
                print(
                    f"{name:<16}{r['wall_s']:>8.1f}{r['stage_pairs_per_s']:>9.2f}"
                    f"{r['loop_pairs_per_s']:>14.2f}{r['peak_mib']:>10}"
                )
            print(
                f"qilin packed: {record[kind]['speedup_vs_trl_defaults']}x trl defaults, "
                f"{record[kind]['speedup_vs_trl_precompute']}x trl precompute (whole stage)"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
