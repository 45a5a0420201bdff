"""Several processes through `qilin`'s own launcher path: DDP under torchrun, FSDP under accelerate launch.

Each launched run starts 2 CPU processes (gloo) with `launch.launcher=...`, exactly as a user would on GPUs,
and is compared with a single-process run of the same global batch.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from qilin.config import ConfigError, LaunchSettings, Recipe, check_recipe, from_dict
from qilin.distributed import engine_config, launch_command
from tests.conftest import dpo_rows, sft_rows, write_jsonl


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_sft(model: Path, data: Path, out: Path, *settings: str, stage: str = "sft") -> dict:
    """`qilin train STAGE` in a fresh interpreter, as a user runs it; returns the manifest's stage record."""
    command = [sys.executable, "-m", "qilin.cli", "train", stage, *settings, "--model", str(model)]
    command += ["--data", str(data), "--output", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "manifest.json").read_text())["stages"][stage]


def _losses(out: Path, stage: str = "sft") -> list[float]:
    return [h["loss"] for h in json.loads((out / stage / "log_history.json").read_text()) if "loss" in h]


def _weights(out: Path, stage: str = "sft") -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(out / stage / "model").state_dict()


# 16 conversations, 2 epochs: 4 optimizer steps of a global batch of 8, none of them partial
COMMON = (
    "epochs=2", "logging_steps=1", "learning_rate=1e-2", "warmup_ratio=0", "lora.dropout=0", "packing=false",
    "group_by_length=false",  # the sampler's order, not DDP, would then decide which conversations share a step
)  # fmt: skip


def test_two_process_ddp_sft_matches_one_process_with_the_same_global_batch(tiny_model_dir: Path, tmp_path) -> None:
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows()[:16])
    one = _train_sft(tiny_model_dir, data, tmp_path / "one", *COMMON, "batch_size=8")
    port = f"launch.main_port={_free_port()}"
    two = _train_sft(
        tiny_model_dir, data, tmp_path / "two", *COMMON, "batch_size=4", "launch.launcher=torchrun",
        "launch.processes=2", port,
    )  # fmt: skip
    assert (one["metrics"]["engine"], one["metrics"]["processes"]) == ("NO", 1)
    assert (two["metrics"]["engine"], two["metrics"]["processes"]) == ("MULTI_CPU", 2)
    assert two["metrics"]["steps"] == one["metrics"]["steps"] == 4
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(a) == len(b) == 4
    assert a[-1] < a[0] - 0.1, "training did not move the loss"
    for step, (x, y) in enumerate(zip(a, b, strict=True), 1):
        assert abs(x - y) < 1e-4 * abs(x), f"step {step}: 1 process {x}, 2 processes {y}"
    wa, wb = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], atol=1e-5, rtol=1e-4, msg=name)
    # the merged LoRA output differs from the start: the adapters trained and were merged in
    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    assert any(not torch.allclose(wb[n], start[n]) for n in wb)
    assert (tmp_path / "two" / "sft" / "adapter" / "adapter_model.safetensors").is_file()


def test_two_process_ddp_packed_dpo_matches_one_process(tiny_model_dir: Path, tmp_path) -> None:
    """Packed DPO with the reference cache under torchrun: the loss is divided by the pairs of both processes."""
    # 8 pairs a step, all of them: trl's sampler shards a larger set in another order over 2 processes
    data = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows()[:8])
    common = ("epochs=4", "logging_steps=1", "learning_rate=1e-2", "warmup_ratio=0", "lora.dropout=0", "beta=0.5")
    one = _train_sft(tiny_model_dir, data, tmp_path / "one", *common, "batch_size=8", stage="dpo")
    port = f"launch.main_port={_free_port()}"
    two = _train_sft(
        tiny_model_dir, data, tmp_path / "two", *common, "batch_size=4", "launch.launcher=torchrun",
        "launch.processes=2", port, stage="dpo",
    )  # fmt: skip
    assert two["metrics"]["processes"] == 2 and two["metrics"]["steps"] == one["metrics"]["steps"] == 4
    a, b = _losses(tmp_path / "one", "dpo"), _losses(tmp_path / "two", "dpo")
    assert len(a) == len(b) == 4 and a[-1] < a[0] - 0.05, a
    for step, (x, y) in enumerate(zip(a, b, strict=True), 1):
        assert abs(x - y) < 1e-4 * abs(x), f"step {step}: 1 process {x}, 2 processes {y}"
    wa, wb = _weights(tmp_path / "one", "dpo"), _weights(tmp_path / "two", "dpo")
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], atol=1e-5, rtol=1e-4, msg=name)


def test_fsdp_on_two_cpu_processes_shards_trains_and_saves_a_loadable_model(tiny_model_dir: Path, tmp_path) -> None:
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows()[:16])
    full = (*COMMON, "finetune=full", "learning_rate=1e-3")
    one = _train_sft(tiny_model_dir, data, tmp_path / "one", *full, "batch_size=8")
    port = f"launch.main_port={_free_port()}"
    fsdp = _train_sft(
        tiny_model_dir, data, tmp_path / "fsdp", *full, "batch_size=4", "launch.launcher=accelerate",
        "launch.engine=fsdp", "launch.processes=2", port,
    )  # fmt: skip
    assert (fsdp["metrics"]["engine"], fsdp["metrics"]["processes"]) == ("FSDP", 2)
    total = one["metrics"]["parameters_per_process"]
    held = fsdp["metrics"]["parameters_per_process"]
    assert 0.45 * total < held < 0.55 * total, f"process 0 holds {held} of {total} parameters: not sharded"
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "fsdp")
    for step, (x, y) in enumerate(zip(a, b, strict=True), 1):
        assert abs(x - y) < 1e-4 * abs(x), f"step {step}: 1 process {x}, FSDP {y}"
    # the consolidated save: one ordinary HF directory, loadable anywhere, equal to the 1-process result
    saved = sorted(p.name for p in (tmp_path / "fsdp" / "sft" / "model").iterdir())
    assert "model.safetensors" in saved and not any(n.endswith(".bin") or "shard" in n for n in saved)
    wa, wb = _weights(tmp_path / "one"), _weights(tmp_path / "fsdp")
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], atol=1e-5, rtol=1e-4, msg=name)


def test_launch_commands_for_one_machine_and_two() -> None:
    eight = launch_command(LaunchSettings(launcher="torchrun", processes=8), ["run", "r.yaml"])
    assert eight[1:4] == ["-m", "torch.distributed.run", "--nproc-per-node=8"]
    assert eight[-4:] == ["-m", "qilin.cli", "run", "r.yaml"]
    two_nodes = LaunchSettings(
        launcher="accelerate", engine="zero3", processes=8, machines=2, machine_rank=1, main_address="10.0.0.1"
    )
    command = launch_command(two_nodes, ["run", "r.yaml"])
    assert "--num_processes=16" in command and "--num_machines=2" in command and "--machine_rank=1" in command
    assert "--main_process_ip=10.0.0.1" in command
    assert command[command.index("-m", 3) + 1] == "qilin.cli"


@pytest.mark.parametrize("engine", ["ddp", "fsdp", "zero2", "zero3"])
def test_shipped_engine_configs_are_valid_accelerate_configs(engine: str) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(engine_config(engine)))
    expected = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED"}[engine]
    assert config.distributed_type.value == expected
    raw = yaml.safe_load(engine_config(engine).read_text())
    if engine == "fsdp":
        assert raw["fsdp_config"]["fsdp_reshard_after_forward"] is True  # full shard
        assert raw["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # consolidated save
    if engine.startswith("zero"):
        assert raw["deepspeed_config"]["zero_stage"] == int(engine[-1])
    if engine == "zero3":
        assert raw["deepspeed_config"]["zero3_save_16bit_model"] is True  # consolidated save


def test_launch_settings_are_checked() -> None:
    def recipe(**launch: object) -> Recipe:
        return from_dict(Recipe, {"stages": {"sft": {"data": ["x.jsonl"]}}, "launch": launch})

    with pytest.raises(ConfigError, match="torchrun runs DDP only"):
        check_recipe(recipe(launcher="torchrun", engine="fsdp"))
    with pytest.raises(ConfigError, match=r"launch\.engine: expected one of ddp, fsdp, zero2, zero3"):
        check_recipe(recipe(launcher="accelerate", engine="zero9"))
    with pytest.raises(ConfigError, match="machine_rank"):
        check_recipe(recipe(launcher="torchrun", machines=2, machine_rank=2))
    check_recipe(recipe(launcher="accelerate", engine="fsdp", processes=8))


def test_a_whole_recipe_runs_under_torchrun_and_a_rerun_skips_it(tmp_path: Path, data_files: dict) -> None:
    from .test_pipeline import write_recipe

    recipe = yaml.safe_load(write_recipe(tmp_path, data_files).read_text())
    # evaluated by the main process only
    recipe["eval"] = {"benchmarks": [{"benchmark": "mcq", "path": "embedded:cmexam", "limit": 20}]}
    recipe["launch"] = {"launcher": "torchrun", "processes": 2, "main_port": _free_port()}
    path = tmp_path / "launched.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True))
    command = [sys.executable, "-m", "qilin.cli", "run", str(path), "--output", str(tmp_path / "run")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    stages = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]
    for name in ("cpt", "sft", "dpo"):
        assert stages[name]["status"] == "complete"
        assert (stages[name]["metrics"]["engine"], stages[name]["metrics"]["processes"]) == ("MULTI_CPU", 2)
        assert stages[name]["evaluation"]["cmexam_acc"]["n"] == 20
    assert first.stdout.count("evaluating") == 4, "each model is evaluated once, by the main process"
    again = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0
    assert again.stdout.count("complete with unchanged inputs: skipped") == 3


def test_a_process_started_by_a_launcher_trains_instead_of_launching_again(tiny_model_dir: Path, tmp_path) -> None:
    import os

    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows()[:8])
    # what torchrun sets in its one process when launch.processes=1
    env = {**os.environ, "LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    env["MASTER_PORT"] = str(_free_port())
    command = [sys.executable, "-m", "qilin.cli", "train", "sft", "max_steps=1", "launch.launcher=torchrun"]
    command += ["--model", str(tiny_model_dir), "--data", str(data), "--output", str(tmp_path / "o")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "launching:" not in done.stdout
    assert (tmp_path / "o" / "sft" / "model" / "model.safetensors").is_file()
