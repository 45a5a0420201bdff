"""GRPO with the prompt computed once per group (Qilin's packed GRPO) against trl's GRPOTrainer, same rollouts.

    .venv/bin/python benchmarks/grpo_step.py [--prompts 32] [--steps 8] [--completion-tokens 48] [--rounds 1 3]

Prompts are multi-turn (a system turn and 1-3 earlier rounds from the bundled SFT texts before the question, so the
prompt is 70-90% of the tokens), G = 4 completions each, 8 completions a step, LoRA r16 (alpha 32, no dropout, all
linear layers), beta 0.04 (trl's default is 0, which skips the reference forward that GRPO with a KL needs), trl's
defaults otherwise (loss 'dapo', group-scaled advantages), fp32, the demo-sized tiny Llama, on whatever device torch
finds. Both trainers are trl's GRPOTrainer; Qilin's only replaces how per-token log-probs are computed.

- step: the rollouts are replayed from a file (generated once: the same completions for both), so a step is the
  reference forward, the policy forward and the backward (and the reward, which costs nothing here);
- stage: the same steps with transformers' generate sampling `--completion-tokens` new tokens per completion (the
  rollouts then differ between the two, their count and length do not: EOS is suppressed), to show where generation
  dominates.
Prints seconds per step for each and the ratio, and writes benchmarks/results/grpo_step-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import ClassVar

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sft_tokenization import bundled_turns

G, BATCH, BETA = 4, 8, 0.04


def make_prompts(
    n: int, seed: int, work: Path, rounds: tuple[int, int] = (1, 3)
) -> tuple[list[list[dict]], list[str], list[str]]:
    """`n` multi-turn prompts (`rounds` earlier rounds), and the bundled questions and answers (tokenizer corpus,
    replayed completions)."""
    questions, answers = bundled_turns(work)
    rng = random.Random(seed)
    prompts = []
    for _ in range(n):
        prompt = [{"role": "system", "content": "你是一名医生，请回答患者的问题。"}]
        for _ in range(rng.randint(*rounds)):
            prompt += [{"role": "user", "content": rng.choice(questions)}]
            prompt += [{"role": "assistant", "content": rng.choice(answers)}]
        prompts.append([*prompt, {"role": "user", "content": rng.choice(questions)}])
    return prompts, questions, answers


def replay_file(tokenizer, prompts: list, answers: list[str], tokens: int, seed: int, out: Path) -> dict:
    """G completions of `tokens` tokens per prompt (bundled answers run together), keyed by the prompt's token ids."""
    rng = random.Random(seed)
    table = {}
    for prompt in prompts:
        ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)["input_ids"]
        completions = []
        for _ in range(G):  # bundled answers run together until `tokens` long, as sampling to the limit would be
            completion: list[int] = []
            while len(completion) < tokens:
                completion += tokenizer(rng.choice(answers), add_special_tokens=False)["input_ids"]
            completions.append(completion[:tokens])
        table[" ".join(map(str, ids))] = completions
    out.write_text(json.dumps(table))
    return table


def trainer_for(kind: str, model_dir: Path, prompts: list, out: Path, replay: dict | None, tokens: int):
    """A trl GRPOTrainer ('trl') or Qilin's packed one ('packed'), replaying `replay` when given."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from qilin.training.packed_grpo import PackedGRPOTrainer

    base = PackedGRPOTrainer if kind == "packed" else GRPOTrainer

    class Replayed(base):
        seen: ClassVar[dict] = {}

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, **kw):
            if replay is None:
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, **kw)
            out = []
            for ids in prompt_ids:
                key = " ".join(map(str, ids))
                k = self.seen.get(key, 0)
                self.seen[key] = k + 1
                out.append(replay[key][k % G])
            return out, None

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    args = GRPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=BATCH,
        num_generations=G,
        max_completion_length=tokens,
        beta=BETA,
        learning_rate=5e-4,
        save_strategy="no",
        report_to="none",
        logging_steps=1000,
        bf16=False,
        generation_kwargs={"min_new_tokens": tokens},  # equal lengths for both trainers
        seed=0,
    )
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")
    length_reward = lambda completions, **_: [float(len(c[0]["content"]) % 3) for c in completions]  # noqa: E731
    return Replayed(
        model=model,
        reward_funcs=length_reward,
        args=args,
        train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
        processing_class=tokenizer,
        peft_config=lora,
    )


def timed(kind: str, model_dir: Path, prompts: list, work: Path, replay: dict | None, steps: int, tokens: int) -> float:
    """Seconds per optimizer step over `steps` steps (after one warm-up step)."""
    logging.getLogger(__name__).info(f"{kind}: {'replayed' if replay else 'generated'} rollouts, {steps} steps")
    trainer = trainer_for(kind, model_dir, prompts, work / f"{kind}-out", replay, tokens)
    trainer.args.max_steps = steps + 1
    starts = []
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            starts.append(time.perf_counter())

    trainer.add_callback(Clock())
    trainer.train()
    return (starts[-1] - starts[0]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--completion-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, nargs=2, default=[1, 3], help="earlier rounds per prompt (min max)")
    parser.add_argument("--modes", nargs="+", default=["step", "stage"], choices=["step", "stage"])
    args = parser.parse_args()
    from qilin.config import EmbeddedModelSettings
    from qilin.embedded.model import build_embedded_model

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prompts, questions, answers = make_prompts(args.prompts, 0, work, tuple(args.rounds))
        demo = EmbeddedModelSettings(vocab_size=3000, hidden_size=192, num_layers=4, num_heads=4, intermediate_size=512)
        model_dir = build_embedded_model(demo, questions + answers, work / "model")
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        replay = replay_file(tokenizer, prompts, answers, args.completion_tokens, 0, work / "rollouts.json")
        prompt_tokens = sum(len(k.split()) for k in replay) * G
        completion_tokens = sum(len(c) for cs in replay.values() for c in cs)
        results: dict[str, list[float]] = {}
        for _ in range(args.repeats):  # alternate, so a busy machine slows both alike
            for kind in ("trl", "packed"):
                for mode, table in (("step", replay), ("stage", None)):
                    if mode not in args.modes:
                        continue
                    seconds = timed(kind, model_dir, prompts, work, table, args.steps, args.completion_tokens)
                    results.setdefault(f"{kind} {mode}", []).append(seconds)
    best = {k: min(v) for k, v in results.items()}
    report = {
        "date": str(date.today()),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "prompt_share": round(prompt_tokens / (prompt_tokens + completion_tokens), 3),
        "seconds_per_step": {k: round(v, 4) for k, v in best.items()},
        **({"step_speedup": round(best["trl step"] / best["packed step"], 2)} if "step" in args.modes else {}),
        **({"stage_speedup": round(best["trl stage"] / best["packed stage"], 2)} if "stage" in args.modes else {}),
        **(
            {"generation_share_trl": round(1 - best["trl step"] / best["trl stage"], 3)} if len(args.modes) == 2 else {}
        ),
        "settings": {**vars(args), "G": G, "batch": BATCH, "beta": BETA},
    }
    print(json.dumps(report, indent=1))
    out = Path(__file__).parent / "results" / f"grpo_step-{'cuda' if torch.cuda.is_available() else 'cpu'}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
