"""The vLLM-vs-hf serving benchmark: its transformers half runs on the CPU and records real figures; without vLLM or
a GPU the full run says what it needs and exits 2."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "benchmarks" / "serve_vllm.py")


def test_the_hf_half_records_every_answer_and_its_tokens(tiny_chat_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    argv = ["--model", str(tiny_chat_dir), "--engines", "hf", "--requests", "12", "--max-tokens", "8"]
    done = subprocess.run(
        [sys.executable, SCRIPT, *argv, "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    hf = record["engines"]["hf"]
    assert hf["statuses"] == {"200": 12} and hf["transport_errors"] == 0
    assert 12 <= hf["completion_tokens"] <= 12 * 8  # summed from usage: at least one token, at most max_tokens each
    assert hf["completion_tokens_per_s"] == pytest.approx(
        hf["completion_tokens"] / hf["wall_s"], rel=0.05
    )  # wall_s is rounded to the millisecond: a quiet machine serves the 12 requests in well under 0.1 s
    assert "parity" not in record and "identical_greedy_answers" not in record  # both need vLLM


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed: the full run would start")
def test_without_vllm_the_full_run_says_what_it_needs(tiny_chat_dir: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, SCRIPT, "--model", str(tiny_chat_dir), "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 2 and "needs a CUDA GPU and vLLM" in done.stdout
    assert not (tmp_path / "x.json").exists()
