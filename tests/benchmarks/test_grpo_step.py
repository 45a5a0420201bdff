"""benchmarks/grpo_step.py's prompts and replayed rollouts: the prompt is most of the tokens trl computes, and a
replayed trainer hands back the file's completions, the same for trl's trainer and the packed one."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpo_step import G, make_prompts, replay_file, trainer_for  # noqa: E402


def test_prompts_are_most_of_the_tokens_and_rollouts_replay(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    prompts, _, answers = make_prompts(6, seed=0, work=tmp_path)
    assert prompts[0][0]["role"] == "system" and prompts[0][-1]["role"] == "user"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    replay = replay_file(tokenizer, prompts, answers, 16, 0, tmp_path / "rollouts.json")
    prompt_tokens = sum(len(k.split()) for k in replay) * G
    completion_tokens = sum(len(c) for cs in replay.values() for c in cs)
    assert prompt_tokens / (prompt_tokens + completion_tokens) >= 0.7  # the benchmark prints its own share
    for kind in ("trl", "packed"):
        trainer = trainer_for(kind, tiny_model_dir, prompts, tmp_path / kind, replay, 16)
        key = next(iter(replay))
        ids = [int(t) for t in key.split()]
        completions, _ = trainer._generate_single_turn([ids] * G, None, {}, G)
        assert completions == replay[key]
    assert type(trainer).__mro__[1].__name__ == "PackedGRPOTrainer"
    assert torch.equal(torch.tensor([len(c) for c in replay[key]]), torch.tensor([len(c) for c in completions]))
