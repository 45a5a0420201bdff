"""benchmarks/sft_tokenization.py runs small and writes a sane record: one render per conversation beats rendering
every prefix, with identical examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_small_and_writes_its_record(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft_tokenization.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "sft_tokenization.py"), "--conversations", "12"]
    command += ["--workers", "1", "--repeats", "1", "--model", str(tiny_model_dir), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["date"] == str(date.today()) and record["conversations"] == 12
    assert record["outputs_identical"] is True and record["tokens"] > 12 * 8
    assert set(record["versions"]) >= {"python", "transformers", "tokenizers"}
    assert set(record["results"]) == {"prefixes", "one pass", "first build (read, tokenize, write)", "cache hit"}
    assert all(r["seconds"] > 0 and r["conversations_per_second"] > 0 for r in record["results"].values())
    assert record["speedup_one_pass"] > 1
    assert "one pass" in done.stdout and "x" in done.stdout
