"""benchmarks/grpo_stage_wall.py at its smallest: `qilin train grpo` and a trl GRPOTrainer script, each its own
process, run the asked steps on the same problems, and the record's times, shares and ratios agree with each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_two_steps_of_the_stage_against_trl(tmp_path: Path) -> None:
    out = tmp_path / "wall.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "grpo_stage_wall.py"), "--steps", "2"]
    command += ["--completion-tokens", "8", "--variants", "qilin packed", "trl defaults", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["settings"]["steps"] == 2 and record["settings"]["problems"] == 4
    for name in ("qilin packed", "trl defaults"):
        r = record["runs"][name]
        assert r["steps"] == 2  # both ran the asked optimizer steps
        assert 0 < r["mean_completion_tokens"] <= 8
        assert 0 < r["generate_s"] < r["train_runtime"] < r["wall_s"]
        assert r["generate_share_of_stage"] == round(r["generate_s"] / r["wall_s"], 3)
    runs = record["runs"]
    assert record["stage_speedup_vs_trl_defaults"] == round(
        runs["trl defaults"]["wall_s"] / runs["qilin packed"]["wall_s"], 2
    )
    # with 48-token completions (the default) the prompt is 70-90% of a row's tokens
    assert 0.7 <= record["prompt_tokens_mean"] / (record["prompt_tokens_mean"] + 48) <= 0.9
    assert record["prompt_share"] > 0.9  # 8-token completions here
    assert "stage_speedup_vs_trl_defaults" in done.stdout
