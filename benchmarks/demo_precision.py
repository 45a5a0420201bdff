"""The demo recipe in the default precision and in fp32, side by side: the stage tables and their gap.

    .venv/bin/python benchmarks/demo_precision.py                # the demo as `make demo` runs it, twice
    .venv/bin/python benchmarks/demo_precision.py --size tiny    # a few steps of each stage (the tests run it)

On a GPU the default is bf16-mixed (fp32 master weights, bf16 autocast, outputs chained in fp32, the last one
cast to bf16); the fp32 run sets every stage's precision and model.dtype to float32. The goal: CMExam within 3
points of fp32 at every stage. On a CPU both runs are fp32, so the gap is 0 by construction (a check of the
harness, not of precision). Writes benchmarks/results/demo_precision-<date>-<device>.json with both tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path

import torch

STAGES = ("cpt", "sft", "dpo", "grpo")
TINY = [
    "embedded.hidden_size=32", "embedded.num_layers=2", "embedded.intermediate_size=64", "embedded.vocab_size=800",
    "eval.benchmarks=[{benchmark: mcq, path: embedded:cmexam, limit: 20}, "
    "{benchmark: qa, path: embedded:huatuo, limit: 4}]",
    "eval.max_new_tokens=8", "eval.rag=[]", "eval.gates=[]",
    *(f"stages.{s}.max_steps=2" for s in STAGES),
]  # fmt: skip
FP32 = ["model.dtype=float32", *(f"stages.{s}.precision=fp32" for s in STAGES)]
METRICS = ("cmexam_acc", "qa_bleu_1", "qa_rouge_1")


def run_demo(out: Path, overrides: list[str]) -> tuple[dict, float]:
    """Run the demo recipe into `out`; ({stage: metrics}, seconds)."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "qilin.cli", "-q", "run", "recipes/demo.yaml", "--output", str(out), *overrides]
    subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1])
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    evaluations = {name: record.get("evaluation", {}) for name, record in stages.items()}
    table = {name: {k: e.get(k, {}).get("value") for k in METRICS} for name, e in evaluations.items()}
    return table, round(time.perf_counter() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("demo", "tiny"), default="demo")
    parser.add_argument("--work", default="runs/demo_precision", help="where the two runs go")
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON record")
    args = parser.parse_args()
    extra = TINY if args.size == "tiny" else []
    work = Path(args.work)
    default, default_s = run_demo(work / "default", extra)
    fp32, fp32_s = run_demo(work / "fp32", [*extra, *FP32])
    gap = {
        s: round(abs((default[s]["cmexam_acc"] or 0) - (fp32[s]["cmexam_acc"] or 0)), 2) for s in default if s in fp32
    }
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    record = {
        "date": str(date.today()),
        "device": device,
        "size": args.size,
        "versions": {p: version(p) for p in ("qilin", "torch", "transformers", "trl", "peft")},
        "default": {"table": default, "seconds": default_s},
        "fp32": {"table": fp32, "seconds": fp32_s},
        "cmexam_gap": gap,
    }
    print(f"{'stage':<8} {'default':>8} {'fp32':>8} {'gap':>6}")
    for stage in default:
        print(
            f"{stage:<8} {default[stage]['cmexam_acc']!s:>8} {fp32.get(stage, {}).get('cmexam_acc')!s:>8} "
            f"{gap.get(stage)!s:>6}"
        )
    out = Path(args.out) / f"demo_precision-{date.today()}-{device.replace(' ', '_')}-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
