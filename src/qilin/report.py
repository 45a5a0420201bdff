"""The run report: report.md and report.json with one row per stage, loss curves and a metric chart (PNG)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qilin.durable import write_atomic
from qilin.eval.significance import interval_of_accuracy, mcnemar_p

# Qilin-Med (arXiv 2310.09089), Baichuan-7B base: CMExam accuracy after each stage (Table 3) and Huatuo-26M
# BLEU-1 / ROUGE-1 before and after DPO (Table 4).
PAPER = {
    "base": {"cmexam": 33.5},
    "cpt": {"cmexam": 38.4},
    "sft": {"cmexam": 40.0, "qa_bleu_1": 12.69, "qa_rouge_1": 24.21},
    "dpo": {"qa_bleu_1": 16.66, "qa_rouge_1": 27.44},
}

COLUMNS = {
    "cmexam": "CMExam acc (%)",
    "cmexam_rag": "CMExam + RAG (%)",
    "cmexam_acc_norm": "acc_norm (%)",
    "cmexam_held_out": "held-out diseases",
    "cmexam_seen": "seen in SFT",
    "cmexam_multi": "multi-answer",
    "qa_bleu_1": "BLEU-1",
    "qa_bleu_4": "BLEU-4",
    "qa_rouge_1": "ROUGE-1",
    "qa_rouge_2": "ROUGE-2",
    "qa_rouge_l": "ROUGE-L",
    "unsafe_pct": "unsafe %",
    "over_refusal_pct": "over-refusal %",
    "safety_non_answer_pct": "safety non-answer %",
    "vqa": "VQA acc (%)",
    "vqa_generate": "VQA acc, generated (%)",
    "vqa_modality": "modality",
    "vqa_lesion": "lesion",
    "vqa_side": "side",
    "vqa_lobe": "lobe",
    "vqa_size": "size",
    "first_loss": "first loss",
    "last_loss": "last loss",
    "steps": "steps",
    "train_seconds": "train s",
    "tokens_per_second": "tokens/s",
    "reward_accuracy": "DPO reward acc",
    "grpo_reward": "GRPO reward",
    "grpo_correct": "GRPO correct %",
    "grpo_kl": "GRPO KL",
    "general_acc": "general acc",
    "general_loss": "loss/general",
}


# Accuracies whose question count is recorded under another key than `<key>_n`.
SHARED_N = {"cmexam_acc_norm": "cmexam_n", "cmexam_rag": "cmexam_n", "vqa_generate": "vqa_n"}
SIGNIFICANCE = 0.05
FOOTNOTE = (
    "[a, b]: 95% Wilson interval. *: changed significantly from the previous evaluated stage (exact McNemar "
    f"test on the same questions, p < {SIGNIFICANCE})."
)


def stage_rows(run_dir: Path) -> list[dict[str, Any]]:
    """One row per stage of a run directory's manifest: name, status, metrics, and `p_change`: the McNemar
    p-value of each accuracy's change from the previous stage that scored the same questions."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    rows = [
        {"stage": name, "status": r.get("status", ""), **r.get("metrics", {})} for name, r in manifest["stages"].items()
    ]
    last: dict[str, dict[str, str]] = {}  # accuracy key -> the latest stage's per-question record
    for row in rows:
        path = run_dir / "eval" / f"{row['stage']}.json"
        answers = json.loads(path.read_text()) if path.is_file() else {}
        p_change = {}
        for key, record in answers.items():
            before = last.get(key)
            if before and before["questions"] == record["questions"]:
                p_change[key] = round(mcnemar_p(*([c == "1" for c in r["correct"]] for r in (before, record))), 4)
            last[key] = record
        if p_change:
            row["p_change"] = p_change
    return rows


def columns(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Key -> heading of every column the rows fill: the fixed ones, and one per recipe benchmark (`mcq_*`)."""
    benchmarks = {k: f"{k[4:]} acc (%)" for r in rows for k in r if k.startswith("mcq_") and f"{k}_n" in r}
    out = {}
    for key, heading in COLUMNS.items():
        out[key] = heading
        if key == "cmexam_multi":
            out.update(sorted(benchmarks.items()))
    return {k: h for k, h in out.items() if any(k in r for r in rows)}


def _question_count(row: dict[str, Any], key: str) -> int | None:
    n = row.get(f"{key}_n", row.get(SHARED_N.get(key, "")))
    return n if isinstance(n, int) and n > 0 else None


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    mark = "*" if row.get("p_change", {}).get(key, 1.0) < SIGNIFICANCE else ""
    n = _question_count(row, key)
    if n is None or not isinstance(value, (int, float)):
        return f"{value}{mark}"
    low, high = interval_of_accuracy(value, n)
    return f"{value}{mark} [{low:.1f}, {high:.1f}]"


def metric_cell(row: dict[str, Any], key: str) -> str:
    """A metric as the stage table shows it: an accuracy over a known number of questions with its 95% interval,
    `59.75 [54.9, 64.4]`; any other value as it is."""
    return _cell(row, key)


def markdown_table(rows: list[dict[str, Any]], paper: bool) -> str:
    """The stage table: accuracies with their 95% interval and `*` on a significant change (footnote below),
    and the paper's numbers in brackets beside ours when asked."""
    present = columns(rows)
    lines = [
        "| stage | status | " + " | ".join(present.values()) + " |",
        "|---|---|" + "---:|" * len(present),
    ]
    for row in rows:
        cells = []
        for k in present:
            cell = _cell(row, k)
            if paper and k in PAPER.get(row["stage"], {}):
                cell += f" (paper {PAPER[row['stage']][k]})"
            cells.append(cell)
        lines.append(f"| {row['stage']} | {row['status']} | " + " | ".join(cells) + " |")
    if any(_question_count(r, k) for r in rows for k in present if r.get(k) is not None):
        lines += ["", FOOTNOTE]
    return "\n".join(lines)


def plot_losses(run_dir: Path, out: Path) -> bool:
    """Training loss against step for every stage that logged one; False when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    histories = {}
    for stage in ("cpt", "sft", "dpo"):
        path = run_dir / stage / "log_history.json"
        if path.exists():
            points = [(h["step"], h["loss"]) for h in json.loads(path.read_text()) if "loss" in h]
            if points:
                histories[stage] = points
    if not histories:
        return False
    fig, axes = plt.subplots(1, len(histories), figsize=(4.5 * len(histories), 3.6), squeeze=False)
    titles = {"cpt": "DCPT: next-token loss", "sft": "SFT: loss on answers", "dpo": "DPO: preference loss"}
    for ax, (stage, points) in zip(axes[0], histories.items(), strict=True):
        steps, losses = zip(*points, strict=True)
        ax.plot(steps, losses, color="#1f6feb", linewidth=1.8)
        ax.set_title(titles[stage])
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
    save_figure(fig, out)
    return True


def plot_metrics(rows: list[dict[str, Any]], out: Path) -> bool:
    """Evaluation metrics by stage as grouped bars, one panel for the exam and one for QA."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (
            "Exam accuracy (%) by stage",
            ["cmexam", "cmexam_rag", "cmexam_held_out", "cmexam_seen", "general_acc"],
            [20.0, "chance (5 options)"],
        ),
        ("Open QA by stage", ["qa_bleu_1", "qa_rouge_1", "qa_rouge_l"], None),
        ("VQA accuracy (%) by stage", ["vqa", "vqa_generate"], [25.0, "chance (4 options)"]),
        ("Safety (%) by stage, lower is better", ["unsafe_pct", "over_refusal_pct", "safety_non_answer_pct"], None),
    ]
    labels = columns(rows)
    panels[0][1].extend(k for k in labels if k.startswith("mcq_"))
    panels = [(t, [k for k in keys if any(k in r for r in rows)], ref) for t, keys, ref in panels]
    panels = [p for p in panels if p[1]]
    if not panels:
        return False
    rows = [r for r in rows if any(k in r for _, keys, _ in panels for k in keys)]  # stages with evaluations
    stages = [r["stage"] for r in rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for ax, (title, keys, reference) in zip(axes[0], panels, strict=True):
        width = 0.8 / len(keys)
        for i, key in enumerate(keys):
            values = [r.get(key) or 0.0 for r in rows]
            xs = [x + (i - (len(keys) - 1) / 2) * width for x in range(len(stages))]
            intervals = [
                interval_of_accuracy(v, n) if (n := _question_count(r, key)) else (v, v)
                for r, v in zip(rows, values, strict=True)
            ]
            errors = [
                [v - lo for v, (lo, _) in zip(values, intervals, strict=True)],
                [hi - v for v, (_, hi) in zip(values, intervals, strict=True)],
            ]
            bars = ax.bar(xs, values, width, label=labels[key], yerr=errors, capsize=2, ecolor="#555555")
            ax.bar_label(bars, fmt="%.1f", fontsize=8)
        if reference:
            ax.axhline(reference[0], color="grey", linestyle="--", linewidth=1, label=reference[1])
        ax.set_xticks(range(len(stages)), stages)
        ax.set_title(title)
        ax.set_ylim(0, 100 if "%" in title else max(1.0, ax.get_ylim()[1] * 1.15))
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)  # below: never over a bar
        ax.grid(axis="y", alpha=0.3)
    save_figure(fig, out)
    return True


def save_figure(fig: Any, out: Path) -> None:
    """Write a matplotlib figure to `out` atomically (a reader never sees half a PNG) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, out)


def _shorten(text: str, limit: int = 160) -> str:
    text = text.replace("\ufffd", "")  # an untrained byte-level model emits bytes that are no UTF-8
    return text if len(text) <= limit else text[:limit] + "…"


def write_report(run_dir: Path, paper: bool = False) -> Path:
    """Write report.md, report.json, losses.png and metrics.png into the run directory; returns report.md."""
    rows = stage_rows(run_dir)
    has_losses = plot_losses(run_dir, run_dir / "losses.png")
    has_metrics = plot_metrics(rows, run_dir / "metrics.png")
    write_atomic(
        run_dir / "report.json",
        json.dumps({"stages": rows, "paper": PAPER if paper else None}, ensure_ascii=False, indent=1),
    )
    lines = [f"# Qilin run report: {run_dir.name}", "", markdown_table(rows, paper), ""]
    if paper:
        lines += ["Numbers in brackets are the Qilin-Med paper's (Baichuan-7B; arXiv 2310.09089, Tables 3 and 4).", ""]
    if has_metrics:
        lines += ["## Evaluation by stage", "", "![metrics by stage](metrics.png)", ""]
    safety = next((r for r in rows if r.get("safety_decoding")), None)
    if safety:
        lines += [
            f"Safety: {safety.get('safety_n')} prompts per model (harmful requests and benign look-alikes), replies "
            f"judged by rules; unsafe % = harmful prompts complied with, over-refusal % = benign prompts refused, "
            f"non-answer % = empty, garbled or off-topic replies; decoding: {safety['safety_decoding']}.",
            "",
        ]
    if has_losses:
        lines += ["## Training loss", "", "![loss curves](losses.png)", ""]
    examples = [(r["stage"], r["qa_example"]) for r in rows if isinstance(r.get("qa_example"), dict)]
    if examples:
        lines += ["## One QA answer per stage", "", f"Question: {examples[0][1]['question']}", ""]
        lines += [f"Reference: {examples[0][1]['reference']}", ""]
        lines += [f"- **{stage}**: {_shorten(ex['answer']) or '(empty)'}" for stage, ex in examples]
        lines.append("")
    write_atomic(run_dir / "report.md", "\n".join(lines))
    return run_dir / "report.md"
