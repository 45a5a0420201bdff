"""The GRPO stage's keys (kept apart from settings.py, which holds every other stage's, to keep each file short)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qilin.config.settings import FinetuneSettings, _help


@dataclass
class GrpoSettings(FinetuneSettings):
    """Reinforcement learning with verifiable rewards (GRPO, trl's GRPOTrainer) on multiple-choice problems."""

    prompt_style: Literal["exam", "cloze"] = _help(
        "'exam': the generation-mode exam turn (instruction, the options, '答案：') through the chat template, the "
        "answer read as letters or option text; 'cloze': the plain '{question}\\n答案：' the log-likelihood exam "
        "scores options after, no options shown, the reply credited when it names the right option's text.",
        "exam",
    )
    rewards: dict[str, float] = _help(
        "Weight of each reward (qilin.rl.rewards): correctness (the extracted answer set equals the answer), format "
        "(an answer can be extracted), abstention (the reply says 不确定 and names no option; 0: off).",
        {"correctness": 1.0, "format": 0.1, "abstention": 0.0},
    )
    num_generations: int = _help("Completions sampled per problem (the group G).", 4)
    max_new_tokens: int = _help("Longest completion in tokens.", 64)
    temperature: float = _help("Sampling temperature of the rollouts.", 1.0)
    beta: float = _help(
        "KL coefficient against the reference (the starting model; with LoRA the policy with its adapter disabled, so "
        "no second copy). 0 skips the reference forward pass and logs no KL.",
        0.04,
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"] = _help(
        "trl's loss aggregation: 'dapo' (tokens of the whole accumulated batch), 'grpo' (per sequence, length-biased), "
        "'dr_grpo' (a constant), 'bnpo', 'cispo', 'sapo' (see trl's GRPOConfig.loss_type).",
        "dapo",
    )
    epsilon: float = _help("Clipping range of the policy ratio.", 0.2)
    scale_rewards: Literal["group", "batch", "none"] = _help(
        "Divide advantages by the reward's standard deviation in the group, the batch, or not at all (Dr. GRPO).",
        "group",
    )
    rollouts: Literal["auto", "transformers", "vllm"] = _help(
        "Who generates the completions: 'transformers' (generate, everywhere), 'vllm' (trl's colocate mode: vLLM in "
        "the training process, needs vllm and a GPU), 'auto' (vllm when it is installed and a GPU is present). The log "
        "says which.",
        "auto",
    )
    packing: bool = _help(
        "Prompt once per group: the G completions of a problem laid out as prompt | completion 1 | ... | completion G "
        "in one sequence, each seeing the prompt and itself, so the policy and reference forwards compute every prompt "
        "once (same log-probs and loss as trl's rows). Needs the sdpa, eager or flex_attention kernel and a "
        "transformers architecture: otherwise the stage says so and runs trl's rows.",
        True,
    )
    max_problems: int = _help("Train on a fixed random subset of this many problems; 0: all.", 0)
    batch_size: int = _help("Completions per device per micro-batch (a multiple of num_generations).", 8)
