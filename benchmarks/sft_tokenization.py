"""SFT data preparation: conversations/s of rendering every prefix (before) against one render per conversation
(after), in one process and with worker processes, and the time of a cache hit, side by side in one run.

    .venv/bin/python benchmarks/sft_tokenization.py [--conversations 2000] [--workers 2] [--model DIR]

The conversations are synthetic, 8-48 turns each (an even number, uniform), every turn a question or an answer
drawn from the bundled miniature ChiMed SFT set, a third with a system turn; the tokenizer is the demo's
(runs/demo/base/model if the demo ran, else one trained here as the demo trains it, on the SFT texts) with the
chatml template. Timed as the SFT stage turns conversations into examples (labels, drop rule, example dicts):
  prefixes   the path before: `tokenize_conversation_by_prefixes` per conversation (two renders and two
             tokenizations per assistant turn, quadratic in turns);
  one pass   `tokenize_sft_conversations` in this process: one render and one tokenization per conversation;
  N workers  the same in N spawned worker processes, their start-up included;
  cache hit  `build_sft_examples` reading back what it tokenized (the rerun with a new learning rate).
Each is timed --repeats times, best kept (the first one-pass run builds the template skeletons); the outputs of
all paths are compared. Prints the table and writes benchmarks/results/sft_tokenization-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def bundled_turns(work: Path) -> tuple[list[str], list[str]]:
    """The user and the assistant texts of the bundled miniature ChiMed's SFT part (built under `work`)."""
    from qilin.data.text.formats import read_file
    from qilin.embedded.chimed import build_embedded

    bundled = read_file(build_embedded(work / "chimed")["sft"], "sft")
    questions = [m["content"] for c in bundled for m in c if m["role"] == "user"]
    answers = [m["content"] for c in bundled for m in c if m["role"] == "assistant"]
    return questions, answers


def make_conversations(n: int, seed: int, work: Path) -> tuple[list[list[dict[str, str]]], list[str]]:
    """`n` conversations of 8-48 turns from the bundled SFT questions and answers, and all SFT texts."""
    questions, answers = bundled_turns(work)
    rng = random.Random(seed)
    conversations = []
    for _ in range(n):
        messages = [{"role": "system", "content": "你是一名医生，请回答患者的问题。"}] if rng.random() < 1 / 3 else []
        for turn in range(rng.randint(4, 24) * 2):
            messages.append(
                {"role": "user", "content": rng.choice(questions)}
                if turn % 2 == 0
                else {"role": "assistant", "content": rng.choice(answers)}
            )
        conversations.append(messages)
    return conversations, questions + answers


def load_tokenizer_for(model_dir: Path | None, texts: list[str], work: Path) -> tuple[Any, str]:
    """The given model's tokenizer, the demo's base model's if the demo ran, else one trained as the demo trains it."""
    from qilin.config import ModelSettings, load_recipe
    from qilin.models.loading import load_tokenizer

    if model_dir is None and (ROOT / "runs/demo/base/model/config.json").exists():
        model_dir = ROOT / "runs/demo/base/model"
    described = str(model_dir)
    if model_dir is None:
        from qilin.embedded.model import build_embedded_model

        settings = load_recipe(ROOT / "recipes/demo.yaml").embedded
        model_dir = build_embedded_model(settings, texts, work / "model")
        described = f"embedded, trained here on the bundled SFT texts (vocab_size {settings.vocab_size})"
    return load_tokenizer(model_dir, ModelSettings(chat_template="chatml")), described


def by_prefixes(conversations: list, tokenizer: Any, max_length: int) -> tuple[list[dict], int]:
    """What build_sft_examples did before: every prefix rendered and tokenized, the same drop rule and dicts."""
    from qilin.chat_templates import IGNORE_INDEX
    from qilin.data.text.conversations import tokenize_conversation_by_prefixes

    examples, dropped = [], 0
    for messages in conversations:
        ids, labels = tokenize_conversation_by_prefixes(tokenizer, messages, max_length)
        if all(label == IGNORE_INDEX for label in labels):
            dropped += 1
            continue
        examples.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return examples, dropped


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """(fastest wall time in seconds, the result of the last run)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the parallel run (1: skip it)")
    parser.add_argument("--model", type=Path, help="HF model directory whose tokenizer to use")
    parser.add_argument("--max-length", type=int, default=8192, help="long enough to keep whole conversations")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sft_tokenization-cpu.json")
    args = parser.parse_args()

    import tokenizers
    import transformers

    from qilin.data.text.sft_examples import build_sft_examples, tokenize_sft_conversations

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        conversations, texts = make_conversations(args.conversations, args.seed, work)
        tokenizer, model = load_tokenizer_for(args.model, texts, work)
        n, length = len(conversations), args.max_length
        runs: dict[str, dict[str, Any]] = {}
        seconds, before = best_of(args.repeats, lambda: by_prefixes(conversations, tokenizer, length))
        runs["prefixes"] = {"seconds": seconds}
        seconds, after = best_of(args.repeats, lambda: tokenize_sft_conversations(conversations, tokenizer, length))
        runs["one pass"] = {"seconds": seconds}
        same = before == after
        if args.workers > 1:
            seconds, parallel = best_of(
                args.repeats, lambda: tokenize_sft_conversations(conversations, tokenizer, length, args.workers)
            )
            runs[f"one pass, {args.workers} workers"] = {"seconds": seconds}
            same = same and parallel == after
        data = work / "sft.jsonl"
        data.write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in conversations))

        def build() -> tuple[list[dict], int]:
            return build_sft_examples([data], tokenizer, length, cache=work / "cache")

        runs["first build (read, tokenize, write)"] = {"seconds": best_of(1, build)[0]}
        seconds, cached = best_of(args.repeats, build)
        runs["cache hit"] = {"seconds": seconds}
        same = same and cached == after

    tokens = sum(len(e["input_ids"]) for e in after[0])
    for r in runs.values():
        r["seconds"] = round(r["seconds"], 3)
        r["conversations_per_second"] = round(n / r["seconds"], 1)
    base = runs["prefixes"]["conversations_per_second"]
    print(f"{n} conversations of 8-48 turns, {tokens} tokens, tokenizer {model}, chatml; outputs identical: {same}")
    print(f"{'path':<38} {'seconds':>8} {'conv/s':>9} {'vs prefixes':>12}")
    for name, r in runs.items():
        speedup = r["conversations_per_second"] / base
        r["speedup_vs_prefixes"] = round(speedup, 1)
        print(f"{name:<38} {r['seconds']:>8.3f} {r['conversations_per_second']:>9.1f} {speedup:>11.1f}x")
    record = {
        "date": str(date.today()),
        "device": f"CPU, {os.cpu_count()} cores",
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],  # other work on the machine, if any
        "versions": {
            "python": platform.python_version(),
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "conversations": n,
        "turns": "8-48",
        "tokens": tokens,
        "tokenizer": model,
        "template": "chatml",
        "repeats": args.repeats,
        "outputs_identical": same,
        "results": runs,
        "speedup_one_pass": runs["one pass"]["speedup_vs_prefixes"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
