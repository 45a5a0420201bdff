"""Option log-likelihood scoring: Qilin's scorer against lm-evaluation-harness, side by side in one run.

    .venv/bin/pip install lm-eval==0.4.13
    .venv/bin/python benchmarks/cmexam_scoring.py [--model runs/demo/cpt/model] [--questions 500]

Both score the same single-answer CMExam-format questions (generated from the bundled knowledge base) with
the same model object and batch size; each is timed from the CSV to the accuracy, model loading excluded.
lm-evaluation-harness runs through its HF backend on the task `qilin eval mcq --export-lm-eval` writes for a CMExam CSV.
Prints questions per second of each, the speed ratio, and both accuracies (acc and acc_norm).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch


def make_questions(out_dir: Path, n: int) -> Path:
    """`n` single-answer 5-option questions from the bundled knowledge base, as a CMExam CSV."""
    from qilin.chimed.build import build_chimed
    from qilin.chimed.knowledge import load_kb

    build_chimed(load_kb(), out_dir / "chimed", seed=0, exam_per_disease=8)
    rows = []
    for name in ("cmexam_test.csv", "cmexam_dev.csv"):
        with (out_dir / "chimed" / name).open(encoding="utf-8") as f:
            rows += [r for r in csv.DictReader(f) if len(r["Answer"]) == 1]
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} single-answer questions could be generated")
    path = out_dir / "cmexam_single.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows[:n])
    return path


def load(model_dir: Path | None, work: Path):
    """The model to score with: a given directory, the demo's DCPT model if present, else a tiny random one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model_dir is None and Path("runs/demo/cpt/model/config.json").exists():
        model_dir = Path("runs/demo/cpt/model")
    if model_dir is None:
        from qilin.chimed.knowledge import load_kb
        from qilin.config import EmbeddedModelSettings
        from qilin.embedded.model import build_embedded_model

        texts = [f"{d.name}{d.department}{''.join(d.symptoms)}" for d in load_kb()]
        model_dir = build_embedded_model(EmbeddedModelSettings(), texts, work / "tiny")
    print(f"model: {model_dir}")
    return AutoModelForCausalLM.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="HF model directory (default: runs/demo/cpt/model or a tiny one)")
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)

    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from qilin.eval.lm_eval_task import export_task
    from qilin.eval.multiple_choice import evaluate_loglikelihood, read_cmexam

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_questions(work, args.questions)
        model, tokenizer = load(args.model, work)

        start = time.perf_counter()
        ours = evaluate_loglikelihood(model, tokenizer, read_cmexam(data), args.batch_size)
        ours_s = time.perf_counter() - start

        task_dir = export_task(data, work / "task")
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, device="cpu")
        start = time.perf_counter()
        theirs = simple_evaluate(
            model=lm, tasks=["qilin_cmexam"], task_manager=TaskManager(include_path=str(task_dir)), log_samples=False
        )
        theirs_s = time.perf_counter() - start
        result = theirs["results"]["qilin_cmexam"]

    n = args.questions
    rows = [
        ("qilin", ours_s, ours["acc"]["all"]["accuracy"], ours["acc_norm"]["all"]["accuracy"]),
        ("lm-eval 0.4 (HF)", theirs_s, round(100 * result["acc,none"], 2), round(100 * result["acc_norm,none"], 2)),
    ]
    print(f"\n{n} questions x 5 options, batch size {args.batch_size}, {torch.get_num_threads()} CPU threads")
    print(f"{'scorer':<18} {'seconds':>8} {'questions/s':>12} {'acc':>7} {'acc_norm':>9}")
    for name, seconds, acc, acc_norm in rows:
        print(f"{name:<18} {seconds:8.2f} {n / seconds:12.1f} {acc:7.2f} {acc_norm:9.2f}")
    print(f"speed ratio (qilin / lm-eval): {theirs_s / ours_s:.2f}x")
    same = rows[0][2:] == rows[1][2:]
    print(f"identical accuracy: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
