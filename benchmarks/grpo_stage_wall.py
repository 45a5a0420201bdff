"""The whole GRPO stage a user waits for, `qilin train grpo` against a trl GRPOTrainer script, each run its own process.

    .venv/bin/python benchmarks/grpo_stage_wall.py [--steps 24] [--completion-tokens 48] [--passages 2 3] [--repeats 1]

Same problems and rewards (correctness 1.0 + format 0.1, Qilin's `qilin.rl.rewards`), G = 4 completions of each
problem, 8 completions a step, LoRA r16 (alpha 32, no dropout, all linear layers), beta 0.04 (trl's default is 0,
which skips the reference forward a KL needs), completions of at most `--completion-tokens` sampled by transformers'
generate at temperature 1, fp32, no gradient checkpointing, `--steps` optimizer steps (one epoch of 2 x steps
problems), the demo model (a tiny Llama with a tokenizer trained on the bundled texts), on whatever device torch finds:
  qilin packed     `qilin train grpo` as a user runs it (each prompt computed once per group, LoRA merged and saved)
  qilin rows       the same with packing=false: trl's GRPOTrainer inside Qilin's stage, a row per completion
  trl defaults     a script with `GRPOTrainer` and its defaults otherwise: read the problems, train, save the adapter
Problems carry retrieved passages in their stem (2-3 bundled answers as 资料 before the question, five short options),
asked as the exam turn through the chat template, so the prompt is 70-90% of the tokens. Prints, per run, process
wall seconds (python start, imports, reading and tokenizing the problems, every step with generation, saving),
seconds in `train()`, seconds inside generate, the mean completion length trl logged, and the ratios; writes
benchmarks/results/grpo_stage_wall-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from datetime import date
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dpo_stage_wall import run  # one process timed: wall seconds and its BENCH record
from sft_tokenization import bundled_turns

G, BATCH, BETA, LR = 4, 8, 0.04, 5e-4
REWARDS = {"correctness": 1.0, "format": 0.1}

# Timers, printed as one JSON line at exit: train() seconds, seconds inside generate, trl's logged completion lengths.
PRELUDE = """
import atexit, json, sys, time
import transformers
from trl import GRPOTrainer
_state = {"generate_s": 0.0}
_train, _generate = transformers.Trainer.train, GRPOTrainer._generate_single_turn
def _timed_train(self, *a, **k):
    start = time.perf_counter()
    try:
        return _train(self, *a, **k)
    finally:
        _state["train_runtime"] = time.perf_counter() - start
        lengths = [h["completions/mean_length"] for h in self.state.log_history if "completions/mean_length" in h]
        _state["mean_completion_tokens"] = sum(lengths) / len(lengths) if lengths else None
        _state["steps"] = self.state.global_step
def _timed_generate(self, *a, **k):
    start = time.perf_counter()
    try:
        return _generate(self, *a, **k)
    finally:
        _state["generate_s"] += time.perf_counter() - start
transformers.Trainer.train, GRPOTrainer._generate_single_turn = _timed_train, _timed_generate
atexit.register(lambda: print("BENCH " + json.dumps(_state), file=sys.stderr))
"""

# Everything a trl user writes: the same rows and rewards, GRPOConfig's defaults but for the shared settings.
TRL_SCRIPT = (
    PRELUDE
    + f"""
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig
from qilin.rl.problems import grpo_rows, permuted, read_problems
from qilin.rl.rewards import reward_parts
model_dir, problems, out, steps, tokens = sys.argv[1:6]
rows = grpo_rows(permuted(read_problems(problems), 42), "exam")
parts = reward_parts({REWARDS!r})
args = GRPOConfig(output_dir=out, num_generations={G}, per_device_train_batch_size={BATCH}, beta={BETA},
                  learning_rate={LR}, max_completion_length=int(tokens), max_steps=int(steps), bf16=False,
                  gradient_checkpointing=False, reward_weights=[p.weight for p in parts], save_strategy="no",
                  report_to="none", logging_steps=1, seed=42)
lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), reward_funcs=list(parts), args=args,
                      train_dataset=Dataset.from_list(rows), processing_class=AutoTokenizer.from_pretrained(model_dir),
                      peft_config=lora)
trainer.train()
trainer.save_model(out + "/final")
"""
)

# `qilin train grpo` in this process, with the timers above.
QILIN_SCRIPT = (
    PRELUDE
    + """
import runpy
sys.argv = ["qilin", *sys.argv[1:]]
runpy.run_module("qilin.cli", run_name="__main__")
"""
)


def make_problems(n: int, seed: int, work: Path, passages: tuple[int, int] = (2, 3)) -> tuple[list[dict], list[str]]:
    """`n` problem records whose stem holds `passages` retrieved passages before the question, and the bundled texts
    (the tokenizer's corpus)."""
    questions, answers = bundled_turns(work)
    rng = random.Random(seed)
    problems = []
    for i in range(n):
        found = "\n".join(f"[{k + 1}] {rng.choice(answers)}" for k in range(rng.randint(*passages)))
        options = {letter: rng.choice(answers)[:12] for letter in "ABCDE"}
        problems.append(
            {
                "id": f"bench-{i}",
                "question": f"资料：\n{found}\n问题：{rng.choice(questions)}",
                "options": options,
                "answer": rng.choice("ABCDE"),
                "source": "bench",
            }
        )
    return problems, questions + answers


def prompt_share(model: Path, problems_file: Path, completion_tokens: float) -> dict[str, float]:
    """The mean prompt length (the exam turn through the chat template) and its share of each row trl computes."""
    from qilin.chat_templates import render_prompt
    from qilin.config import ModelSettings
    from qilin.models.loading import load_tokenizer
    from qilin.rl.problems import grpo_rows, read_problems

    tokenizer = load_tokenizer(model, ModelSettings())
    rows = grpo_rows(read_problems(problems_file), "exam")
    lengths = [
        len(tokenizer(render_prompt(tokenizer, r["prompt"]), add_special_tokens=False)["input_ids"]) for r in rows
    ]
    prompt = sum(lengths) / len(lengths)
    return {
        "prompt_tokens_mean": round(prompt, 1),
        "prompt_tokens_max": max(lengths),
        "prompt_share": round(prompt / (prompt + completion_tokens), 3),
    }


def summary(runs: dict[str, dict], steps: int) -> dict:
    """Per run: seconds a step in train(), share of the whole stage inside generate; ratios against the packed run."""
    table = {}
    for name, r in runs.items():
        table[name] = {
            **r,
            "train_s_per_step": round(r["train_runtime"] / steps, 3),
            "outside_train_s": round(r["wall_s"] - r["train_runtime"], 2),
            "generate_share_of_stage": round(r["generate_s"] / r["wall_s"], 3),
            "generate_share_of_train": round(r["generate_s"] / r["train_runtime"], 3),
        }
    packed = table["qilin packed"]
    ratios = {}
    for name in ("qilin rows", "trl defaults"):
        if name in table:
            key = name.replace(" ", "_")
            ratios[f"stage_speedup_vs_{key}"] = round(table[name]["wall_s"] / packed["wall_s"], 2)
            ratios[f"train_speedup_vs_{key}"] = round(table[name]["train_runtime"] / packed["train_runtime"], 2)
            # the loop without generation: what the packed layout changes
            rest = table[name]["train_runtime"] - table[name]["generate_s"]
            ratios[f"train_minus_generate_speedup_vs_{key}"] = round(
                rest / (packed["train_runtime"] - packed["generate_s"]), 2
            )
    return {"runs": table, **ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--completion-tokens", type=int, default=48)
    parser.add_argument("--passages", type=int, nargs=2, default=[2, 3], help="retrieved passages per stem (min max)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds; the fastest of each run is kept")
    parser.add_argument("--variants", nargs="+", default=["qilin packed", "qilin rows", "trl defaults"])
    parser.add_argument("--out", default=None, help="default: benchmarks/results/grpo_stage_wall-<device>.json")
    args = parser.parse_args()
    import torch

    from qilin.config import load_recipe
    from qilin.embedded.model import build_embedded_model

    cuda = torch.cuda.is_available()
    record: dict = {"date": str(date.today()), "device": torch.cuda.get_device_name() if cuda else "cpu"}
    record["settings"] = {
        "steps": args.steps,
        "problems": 2 * args.steps,
        "G": G,
        "completions_per_step": BATCH,
        "max_completion_tokens": args.completion_tokens,
        "beta": BETA,
        "lora_r": 16,
        "precision": "fp32",
        "passages": args.passages,
        "repeats": args.repeats,
    }
    record["versions"] = {p: version(p) for p in ("qilin", "torch", "transformers", "trl", "peft")}
    if "qilin packed" not in args.variants:
        raise SystemExit("--variants must include 'qilin packed' (the ratios are against it)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        problems, texts = make_problems(BATCH // G * args.steps, 0, work, tuple(args.passages))
        data = work / "problems.jsonl"
        data.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in problems), encoding="utf-8")
        recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "demo.yaml")
        model = build_embedded_model(recipe.embedded, texts, work / "model")
        (work / "trl_grpo.py").write_text(TRL_SCRIPT)
        (work / "qilin_grpo.py").write_text(QILIN_SCRIPT)
        settings = [f"num_generations={G}", f"batch_size={BATCH}", f"max_new_tokens={args.completion_tokens}",
                    f"beta={BETA}", f"learning_rate={LR}", f"max_steps={args.steps}", "lora.r=16", "lora.alpha=32",
                    "lora.dropout=0.0", "precision=fp32", "rollouts=transformers", "save_steps=100000",
                    "logging_steps=1", "gradient_checkpointing=false"]  # fmt: skip
        qilin = [sys.executable, str(work / "qilin_grpo.py"), "-q", "train", "grpo", *settings]
        variants = {
            "qilin packed": qilin,
            "qilin rows": [*qilin, "packing=false"],
            "trl defaults": [sys.executable, str(work / "trl_grpo.py"), str(model), str(data)],
        }
        variants = {name: variants[name] for name in args.variants}
        runs: dict[str, list[dict]] = {name: [] for name in variants}
        for round_ in range(args.repeats):  # interleaved, so a busy machine slows every run alike
            for name, command in variants.items():
                out = work / f"{name.replace(' ', '-')}-{round_}"
                env = {**os.environ, "QILIN_CACHE": str(out / "cache"), "OMP_NUM_THREADS": "1"}
                if name.startswith("qilin"):
                    command = [*command, "--model", str(model), "--data", str(data), "--output", str(out)]
                else:
                    command = [*command, str(out), str(args.steps), str(args.completion_tokens)]
                runs[name].append({k: round(v, 2) if isinstance(v, float) else v for k, v in run(command, env).items()})
                print(f"{name}: {runs[name][-1]}", file=sys.stderr)
        best = {name: min(r, key=lambda x: x["wall_s"]) for name, r in runs.items()}
        lengths = [r["mean_completion_tokens"] for r in best.values() if r.get("mean_completion_tokens")]
        completion = sum(lengths) / len(lengths) if lengths else args.completion_tokens
        record.update(prompt_share(model, data, completion))
        record["all_runs"] = runs
    record.update(summary(best, args.steps))
    print(
        f"\nprompt share {record['prompt_share']:.0%} of a row's tokens ({record['prompt_tokens_mean']:.0f} prompt, "
        f"{completion:.1f} completion tokens); {args.steps} steps of {BATCH} completions, G = {G}"
    )
    print(f"{'':<14}{'wall s':>8}{'train s':>9}{'s/step':>8}{'generate s':>12}{'gen/stage':>11}")
    for name, r in record["runs"].items():
        print(
            f"{name:<14}{r['wall_s']:>8.1f}{r['train_runtime']:>9.1f}{r['train_s_per_step']:>8.2f}"
            f"{r['generate_s']:>12.1f}{r['generate_share_of_stage']:>11.0%}"
        )
    for key, value in record.items():
        if "speedup" in key:
            print(f"{key}: {value}x")
    out = Path(args.out or Path(__file__).parent / "results" / f"grpo_stage_wall-{'cuda' if cuda else 'cpu'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
