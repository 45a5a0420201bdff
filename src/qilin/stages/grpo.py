"""Stage 4, reinforcement learning with verifiable rewards: GRPO (trl's GRPOTrainer) on multiple-choice problems.

Each step samples `num_generations` completions of each problem, scores them with the recipe's rewards
(`qilin.rl.rewards`: correctness through the exam's own answer extraction, format, optional abstention) and moves
the policy towards the completions better than their group's mean (Shao et al. 2024, DeepSeekMath), with a KL
penalty `beta` to the starting model. The options of every problem are permuted per sample, the right answer's
position balanced (`qilin.rl.problems.permuted`), so a letter preference is worth nothing.

With LoRA the reference is the policy with its adapter disabled (one copy of the base weights); full fine-tuning
has trl load the starting model a second time as the reference. Rollouts go through transformers' generate, or
through vLLM in the training process (trl's colocate mode) when `rollouts` asks for it or, with 'auto', when
vLLM is installed and a GPU is present; the log says which. Rewards, their parts and the KL are logged every
`logging_steps` (log_history.json, TensorBoard); a killed run resumes from its last checkpoint.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from qilin.eval.subsets import seeded_subset
from qilin.log import get_logger
from qilin.models.loading import load_tokenizer
from qilin.rl.problems import grpo_rows, permuted, read_problems
from qilin.rl.rewards import reward_parts
from qilin.stages.dpo import dpo_model_settings
from qilin.stages.protocol import StageContext
from qilin.training import build_model, build_trainer, save_stage_output, stage_arguments, train
from qilin.training.memory import with_checkpointing_decided
from qilin.training.packed_grpo import DENSE_MASK_KERNELS, PackedGRPOTrainer, packing_unavailable

log = get_logger(__name__)


def rollout_engine(setting: str, cuda: bool | None = None, vllm_installed: bool | None = None) -> str:
    """'vllm' or 'transformers': who generates the completions for the `rollouts` setting."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    vllm_installed = importlib.util.find_spec("vllm") is not None if vllm_installed is None else vllm_installed
    if setting == "vllm" and not (cuda and vllm_installed):
        raise RuntimeError("grpo: rollouts 'vllm' needs the vllm package and a CUDA GPU; set rollouts: transformers")
    if setting == "auto":
        return "vllm" if cuda and vllm_installed else "transformers"
    return setting


def problem_dataset(ctx: StageContext) -> Dataset:
    """The stage's problems as trl rows: a seeded subset, options permuted per sample, prompts in the recipe's style."""
    cfg = ctx.config
    problems = [q for path in ctx.data for q in read_problems(path)]
    if cfg.kinds:
        problems = [q for q in problems if q.annotations.get("kind") in cfg.kinds]
        if not problems:
            raise ValueError(f"grpo: no problem has a kind in kinds {cfg.kinds}")
    problems = seeded_subset(problems, cfg.max_problems, cfg.seed)
    return Dataset.from_list(grpo_rows(permuted(problems, cfg.seed), cfg.prompt_style))


def build_grpo_trainer(ctx: StageContext) -> GRPOTrainer:
    """A GRPOTrainer for the stage (separate from `run` so tests can inspect it before training)."""
    cfg = ctx.config
    if cfg.batch_size % cfg.num_generations:
        raise ValueError(
            f"grpo: batch_size {cfg.batch_size} must be a multiple of num_generations {cfg.num_generations}"
        )
    model_settings = dpo_model_settings(cfg, ctx.model)  # flex_attention for packed groups on CUDA, as packed DPO
    tokenizer = load_tokenizer(ctx.model_path, model_settings)
    dataset = problem_dataset(ctx)
    longest = longest_group(dataset, tokenizer, cfg.num_generations, cfg.max_new_tokens)
    # trl's rows (the larger layout) decide whether activations fit: batch_size x (prompt + completion) tokens
    row = longest - cfg.num_generations * (cfg.max_new_tokens + 1) + cfg.max_new_tokens
    cfg = with_checkpointing_decided(cfg, ctx.model_path, model_settings, row * cfg.batch_size)
    model = build_model(ctx.model_path, model_settings, cfg)
    trainer_class = packed_trainer_class(cfg, model.config, model_settings.trust_remote_code, longest)
    parts = reward_parts(cfg.rewards)
    engine = rollout_engine(cfg.rollouts)
    layout = "each prompt once per group" if trainer_class is PackedGRPOTrainer else "a row per completion"
    log.info(
        f"grpo: {len(dataset)} problems ({cfg.prompt_style} prompts), {cfg.num_generations} completions each, "
        f"rollouts by {engine}, {layout}; rewards {', '.join(f'{p.name} x{p.weight}' for p in parts)}"
    )
    args = stage_arguments(
        cfg,
        ctx.stage_dir,
        model_settings,
        GRPOConfig,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        epsilon=cfg.epsilon,
        scale_rewards=cfg.scale_rewards,
        reward_weights=[p.weight for p in parts],
        use_vllm=engine == "vllm",
        vllm_mode="colocate",
    )
    trainer = build_trainer(
        ctx.stage_dir,
        model,
        dataset,
        args,
        trainer_class=trainer_class,
        reward_funcs=list(parts),
        processing_class=tokenizer,
    )
    peft_config = getattr(trainer.model, "peft_config", {})
    if "ref" in peft_config:
        # trl copies a pre-attached adapter into a frozen "ref" adapter (for adapters trained before); ours is freshly
        # initialised (LoRA B = 0), so the disabled adapter is the same reference without a second adapter's memory.
        trainer.model.delete_adapter("ref")
    if trainer_class is PackedGRPOTrainer and model.config._attn_implementation not in DENSE_MASK_KERNELS:
        trainer.pack_row_tokens = 2**62  # flex_attention skips the masked blocks: one row per batch costs nothing
    return trainer


def longest_group(dataset: Dataset, tokenizer: Any, generations: int, new_tokens: int) -> int:
    """Most tokens one packed group can take: the longest prompt and G completions of `new_tokens` (+1 opener each)."""
    from qilin.chat_templates import render_prompt

    prompts = [p if isinstance(p, str) else render_prompt(tokenizer, p) for p in dataset["prompt"]]
    longest_prompt = max(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    return longest_prompt + generations * (new_tokens + 1)


def packed_trainer_class(cfg: Any, model_config: Any, trust_remote_code: bool, longest: int) -> type[GRPOTrainer]:
    """PackedGRPOTrainer, or trl's GRPOTrainer when packing is off or cannot run (saying why)."""
    if not cfg.packing:
        return GRPOTrainer
    why = packing_unavailable(model_config, trust_remote_code, longest)
    if why is not None:
        log.warning(f"grpo: prompt once per group off, each completion runs as its own row as in trl: {why}")
        return GRPOTrainer
    return PackedGRPOTrainer


def grpo_metrics(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean reward, correctness and KL over the logged steps of the last tenth of training (the report's columns)."""
    logged = [h for h in history if "reward" in h]
    if not logged:
        return {}
    tail = logged[-max(1, len(logged) // 10) :]
    out = {
        "grpo_reward_first": round(logged[0]["reward"], 4),
        "grpo_reward": round(sum(h["reward"] for h in tail) / len(tail), 4),
    }
    if "rewards/correctness/mean" in logged[0]:
        out["grpo_correct"] = round(100 * sum(h["rewards/correctness/mean"] for h in tail) / len(tail), 2)
    if "kl" in logged[0]:
        out["grpo_kl"] = round(sum(h["kl"] for h in tail) / len(tail), 5)
    return out


def run(ctx: StageContext) -> dict[str, Any]:
    """Run GRPO from `ctx.model_path` on the problems in `ctx.data`; the output model lands in `ctx.output`."""
    trainer = build_grpo_trainer(ctx)
    metrics = train(trainer, ctx.stage_dir)
    metrics.update(grpo_metrics(trainer.state.log_history))
    metrics["problems"] = len(trainer.train_dataset)
    save_stage_output(
        trainer,
        trainer.processing_class,
        ctx.config,
        ctx.model_path,
        ctx.model,
        ctx.stage_dir,
        feeds_next_stage=ctx.feeds_next_stage,
    )
    return metrics
