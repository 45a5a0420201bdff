"""The demo-precision benchmark's CPU mode: two tiny pipelines, both tables recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_precision_runs_tiny_and_records_both_tables(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "demo_precision.py"), "--size", "tiny"]
    done = subprocess.run(
        [*command, "--work", str(tmp_path / "runs"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("demo_precision-*.json")]
    assert set(record["default"]["table"]) == set(record["fp32"]["table"]) == {"base", "cpt", "sft", "dpo", "grpo"}
    assert all(0 <= v["cmexam_acc"] <= 100 for v in record["fp32"]["table"].values())
    assert record["cmexam_gap"] == {
        "base": 0.0,
        "cpt": 0.0,
        "sft": 0.0,
        "dpo": 0.0,
        "grpo": 0.0,
    }  # a CPU trains fp32 either way
    saved = json.loads((tmp_path / "runs" / "fp32" / "manifest.json").read_text())
    assert saved["stages"]["sft"]["inputs"]["config"]["precision"] == "fp32"
