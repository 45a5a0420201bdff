"""The whole recipe: stages chain, outputs load, a rerun skips, a killed run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from qilin.config import load_recipe
from qilin.pipeline.runner import run_recipe
from qilin.report import write_report
from tests.conftest import TINY

STAGE_KEYS = {"batch_size": 4, "save_steps": 5, "logging_steps": 1, "learning_rate": 1e-3, "warmup_ratio": 0.0}


def write_recipe(tmp_path: Path, data_files: dict, sft_steps: int = 6) -> Path:
    recipe = {
        "name": "tiny",
        "embedded": asdict(TINY),
        "stages": {
            "cpt": {
                "data": [str(data_files["cpt"])],
                "block_size": 32,
                "finetune": "full",
                "max_steps": 6,
                **STAGE_KEYS,
            },
            "sft": {"data": [str(data_files["sft"])], "max_length": 64, "max_steps": sft_steps, **STAGE_KEYS},
            "dpo": {"data": [str(data_files["dpo"])], "max_length": 64, "max_steps": 4, **STAGE_KEYS},
        },
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True))
    return path


def test_recipe_runs_all_stages_and_a_rerun_skips_them(tmp_path: Path, data_files: dict, capsys) -> None:
    run_dir = tmp_path / "run"
    recipe = load_recipe(write_recipe(tmp_path, data_files))
    manifest = run_recipe(recipe, run_dir)
    stages = manifest.data["stages"]
    assert list(stages) == ["base", "cpt", "sft", "dpo"]
    assert all(s["status"] == "complete" for s in stages.values())
    assert stages["cpt"]["metrics"]["steps"] == 6 and stages["dpo"]["metrics"]["steps"] == 4
    assert stages["cpt"]["metrics"]["last_loss"] < stages["cpt"]["metrics"]["first_loss"]
    # each stage starts from the previous stage's output, recorded with its content hashes
    assert stages["sft"]["inputs"]["model"]["path"] == str(run_dir / "cpt" / "model")
    assert stages["dpo"]["inputs"]["model"]["fingerprint"] == stages["sft"]["fingerprint"]
    assert len(stages["sft"]["inputs"]["data"][0]["sha256"]) == 64
    # outputs are standard HF directories; LoRA stages keep their unmerged adapter beside the merged model
    for name in ("cpt", "sft", "dpo"):
        out = run_dir / name / "model"
        assert (out / "model.safetensors").exists() and not list(out.glob("*.bin"))
        AutoModelForCausalLM.from_pretrained(out)
        AutoTokenizer.from_pretrained(out)
    assert (run_dir / "sft" / "adapter" / "adapter_config.json").exists()
    assert not (run_dir / "cpt" / "adapter").exists()  # cpt was a full fine-tune
    assert list((run_dir / "cpt" / "tensorboard").glob("events.out.tfevents.*"))

    report = write_report(run_dir, paper=True)
    text = report.read_text()
    assert "| cpt |" in text and "(paper 38.4)" not in text  # no exam in this recipe: no paper numbers to show
    assert "![loss curves](losses.png)" in text
    assert (run_dir / "losses.png").read_bytes()[:4] == b"\x89PNG"
    rows = json.loads((run_dir / "report.json").read_text())["stages"]
    assert [r["stage"] for r in rows] == ["base", "cpt", "sft", "dpo"] and rows[1]["training"]["steps"] == 6

    finished = {n: s.get("finished") for n, s in stages.items()}
    weights_mtime = (run_dir / "dpo" / "model" / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    manifest = run_recipe(recipe, run_dir)
    out = capsys.readouterr().out
    assert out.count("complete with unchanged inputs: skipped") == 3
    assert {n: s.get("finished") for n, s in manifest.data["stages"].items()} == finished
    assert (run_dir / "dpo" / "model" / "model.safetensors").stat().st_mtime_ns == weights_mtime

    moved = tmp_path / "moved"
    run_dir.rename(moved)  # fingerprints hold content, not paths: a moved run still skips
    run_recipe(recipe, moved)
    assert capsys.readouterr().out.count("complete with unchanged inputs: skipped") == 3


def test_changed_data_reruns_that_stage_and_the_ones_after(
    tmp_path: Path, data_files: dict, tiny_model_dir: Path, capsys
) -> None:
    run_dir = tmp_path / "run"
    # a given base model (the embedded one would retrain its tokenizer on the changed data and rerun everything)
    recipe = load_recipe(write_recipe(tmp_path, data_files), [f"model.path={tiny_model_dir}"])
    run_recipe(recipe, run_dir)
    with data_files["sft"].open("a", encoding="utf-8") as f:
        f.write(
            json.dumps({"messages": [{"role": "user", "content": "头晕"}, {"role": "assistant", "content": "就医"}]})
        )
        f.write("\n")
    capsys.readouterr()
    run_recipe(recipe, run_dir)
    out = capsys.readouterr().out
    assert "[cpt] complete with unchanged inputs: skipped" in out
    assert "[sft] inputs changed" in out and "[dpo] inputs changed" in out


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_during_sft_resumes_from_the_checkpoint(tmp_path: Path, data_files: dict) -> None:
    recipe = write_recipe(tmp_path, data_files, sft_steps=400)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "qilin.cli", "run", str(recipe), "--output", str(run_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    checkpoints = run_dir / "sft" / "checkpoints"
    try:
        saved = _wait_for(lambda: any(checkpoints.glob("checkpoint-*/trainer_state.json")), timeout=300)
        assert saved, "SFT never wrote a checkpoint"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["sft"]["status"] == "running"  # killed: never marked complete
    assert not (run_dir / "sft" / "model").exists()  # and no output that looks complete

    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[cpt] complete with unchanged inputs: skipped" in result.stdout
    assert "resuming from" in result.stdout
    sft = json.loads((run_dir / "manifest.json").read_text())["stages"]["sft"]
    assert sft["status"] == "complete"
    assert sft["metrics"]["resumed_from_step"] >= 5 and sft["metrics"]["steps"] == 400
