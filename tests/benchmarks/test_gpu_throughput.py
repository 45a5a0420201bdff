"""The GPU benchmark's CPU mode runs the same code, so it never rots between GPU sessions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_throughput_runs_tiny_on_a_cpu(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_throughput.py"), "--size", "tiny", "--steps", "4"]
    done = subprocess.run(
        [*command, "--block", "64", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("gpu_throughput-*.json")]
    assert record["device"] == "cpu" and {"torch", "transformers", "trl", "qilin"} <= set(record["versions"])
    cpt, sft = record["results"]
    assert cpt["run"] == "cpt" and sft["run"] == "sft"
    assert cpt["precision"] == sft["precision"] == "fp32" and cpt["attention"] == "sdpa"  # what a CPU gets
    assert cpt["gradient_checkpointing"] is False and cpt["timed_steps"] == 1
    assert cpt["tokens_per_second"] > 0 and sft["tokens_per_second"] > 0
