"""GRPO on the tiny model: rewards and KL logged per step, files written, resume, LoRA leaves the base unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from qilin.config import GrpoSettings, LoraSettings, ModelSettings
from qilin.stages import grpo
from tests.conftest import stage_context, write_jsonl

# Options the tiny model emits often (single characters of its corpus), so that the rewards of a group differ and
# the advantages are not all zero.
OPTIONS = {"A": "科", "B": "药", "C": "痛", "D": "热", "E": "。"}


def _problems(path: Path) -> Path:
    stems = ["高血压应到哪个科室就诊？", "糖尿病常用什么药？", "偏头痛的典型症状是", "肺炎常见什么表现？"]
    rows = [{"question": s, "options": OPTIONS, "answer": "ABCDE"[i % 5]} for i, s in enumerate(stems * 4)]
    return write_jsonl(path, rows)


def _cfg(data: Path, **kw) -> GrpoSettings:
    base = {
        "data": [str(data)],
        "lora": LoraSettings(r=4, alpha=8, dropout=0.0),
        "batch_size": 4,
        "num_generations": 4,
        "max_new_tokens": 8,
        "max_steps": 2,
        "warmup_ratio": 0.0,
        "learning_rate": 5e-3,
        "logging_steps": 1,
        "save_steps": 100,
        "prompt_style": "cloze",
        "rewards": {"correctness": 1.0, "format": 0.5},
        "rollouts": "transformers",
    }
    return GrpoSettings(**{**base, **kw})


def test_rollout_engine_follows_the_key() -> None:
    assert grpo.rollout_engine("auto", cuda=False, vllm_installed=True) == "transformers"
    assert grpo.rollout_engine("auto", cuda=True, vllm_installed=True) == "vllm"
    assert grpo.rollout_engine("auto", cuda=True, vllm_installed=False) == "transformers"
    assert grpo.rollout_engine("transformers", cuda=True, vllm_installed=True) == "transformers"
    with pytest.raises(RuntimeError, match="needs the vllm package and a CUDA GPU"):
        grpo.rollout_engine("vllm", cuda=False, vllm_installed=True)


def test_kinds_keep_only_the_problems_of_those_kinds(tiny_model_dir: Path, tmp_path: Path) -> None:
    kinds = ["department", "system", "department", "symptoms"]
    rows = [{"question": f"问题{i}", "options": OPTIONS, "answer": "A", "kind": k} for i, k in enumerate(kinds)]
    data = write_jsonl(tmp_path / "p.jsonl", rows)
    ctx = stage_context(_cfg(data, kinds=["department"]), [data], tiny_model_dir, ModelSettings(), tmp_path / "g")
    assert [r["prompt"] for r in grpo.problem_dataset(ctx)] == ["问题0\n答案：", "问题2\n答案："]
    ctx = stage_context(_cfg(data, kinds=["red_flags"]), [data], tiny_model_dir, ModelSettings(), tmp_path / "g")
    with pytest.raises(ValueError, match=r"no problem has a kind in kinds \['red_flags'\]"):
        grpo.problem_dataset(ctx)


def test_dataset_permutes_options_and_keeps_the_answer(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _problems(tmp_path / "p.jsonl")
    ctx = stage_context(_cfg(data, prompt_style="exam"), [data], tiny_model_dir, ModelSettings(), tmp_path / "grpo")
    rows = grpo.problem_dataset(ctx)
    assert len(rows) == 16
    assert [r["answer"] for r in rows][:5] == list("ABCDE")  # the right option's position cycles
    for r in rows:
        options = json.loads(r["options"])
        assert sorted(options.values()) == sorted(OPTIONS.values())
        assert r["prompt"][0]["role"] == "user" and r["prompt"][0]["content"].endswith("答案：")


def test_lora_grpo_logs_rewards_and_kl_and_keeps_the_base(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _problems(tmp_path / "p.jsonl")
    ctx = stage_context(_cfg(data), [data], tiny_model_dir, ModelSettings(), tmp_path / "grpo")
    trainer = grpo.build_grpo_trainer(ctx)
    assert trainer.ref_model is None and list(trainer.model.peft_config) == ["default"]  # reference: adapter off
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before if "lora_" not in n), "a base weight changed"
    assert any(not torch.equal(before[n], after[n]) for n in before if "lora_B" in n), "LoRA did not train"
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logged) == 2
    for h in logged:
        parts = h["rewards/correctness/mean"] + 0.5 * h["rewards/format/mean"]
        assert h["reward"] == pytest.approx(parts, abs=1e-5)  # the total is the weighted sum of the parts
        assert "kl" in h and h["kl"] >= 0.0
    assert (tmp_path / "grpo" / "tensorboard").is_dir()


def test_run_writes_the_model_and_resumes(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _problems(tmp_path / "p.jsonl")
    stage_dir = tmp_path / "grpo"
    cfg = _cfg(data, max_steps=4, save_steps=2, finetune="full", learning_rate=1e-4)
    metrics = grpo.run(stage_context(cfg, [data], tiny_model_dir, ModelSettings(), stage_dir))
    assert (stage_dir / "model" / "config.json").is_file() and (stage_dir / "log_history.json").is_file()
    assert metrics["steps"] == 4 and metrics["problems"] == 16
    assert {"grpo_reward", "grpo_correct", "grpo_kl"} <= set(metrics)
    # What a kill after step 3 leaves: the checkpoint of step 2, no output model.
    shutil.rmtree(stage_dir / "checkpoints" / "checkpoint-4")
    shutil.rmtree(stage_dir / "model")
    resumed = grpo.run(stage_context(cfg, [data], tiny_model_dir, ModelSettings(), stage_dir))
    assert resumed["resumed_from_step"] == 2 and resumed["steps"] == 4
    assert (stage_dir / "model" / "config.json").is_file()


def test_qilin_train_grpo_runs_through_the_pipeline(tiny_model_dir: Path, tmp_path: Path) -> None:
    from qilin.cli import main
    from qilin.report import stage_rows
    from qilin.report.stage_table import training_table

    data = _problems(tmp_path / "p.jsonl")
    overrides = ["max_steps=1", "batch_size=4", "max_new_tokens=4", "rollouts=transformers", "prompt_style=cloze"]
    out = tmp_path / "run"
    args = ["train", "grpo", *overrides, "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out)]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["stages"]["grpo"]
    assert record["status"] == "complete" and record["metrics"]["steps"] == 1
    assert (out / "grpo" / "model" / "config.json").is_file()
    heading = training_table(stage_rows(out)).splitlines()[0]  # the training figures the stage returned
    assert "| grpo reward |" in heading and "| grpo correct |" in heading
    # the same command again: the stage's fingerprint is unchanged, so it is skipped, not trained again
    assert main(args) == 0
    assert json.loads((out / "manifest.json").read_text())["stages"]["grpo"]["finished"] == record["finished"]
