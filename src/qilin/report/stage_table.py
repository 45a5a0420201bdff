"""The run report: report.md and report.json with one row per stage the recipe runs, the training table, the stage
gates, loss curves and a metric chart (PNG).

Every column comes from the evaluation the manifest records (`qilin.eval.suite`: each metric's label, `n`,
interval, chart), so a new benchmark shows up here without a line changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qilin.durable import write_atomic
from qilin.eval.significance import mcnemar_p
from qilin.report.plots import plot_losses, plot_metrics

# Qilin-Med (arXiv 2310.09089), Baichuan-7B base: CMExam accuracy after each stage (Table 3) and Huatuo-26M
# BLEU-1 / ROUGE-1 before and after DPO (Table 4).
PAPER = {
    "base": {"cmexam_acc": 33.5},
    "cpt": {"cmexam_acc": 38.4},
    "sft": {"cmexam_acc": 40.0, "qa_bleu_1": 12.69, "qa_rouge_1": 24.21},
    "dpo": {"qa_bleu_1": 16.66, "qa_rouge_1": 27.44},
}
SIGNIFICANCE = 0.05
FOOTNOTE = (
    "[a, b]: 95% Wilson interval. *: changed significantly from the previous stage this recipe runs (exact "
    f"McNemar test on the same questions, p < {SIGNIFICANCE})."
)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """A run directory's manifest.json."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no manifest.json; is this a `qilin run` directory?")
    return json.loads(path.read_text())


def stage_rows(run_dir: Path) -> list[dict[str, Any]]:
    """One row per stage the current recipe runs (the manifest's plan): stage, status, training metrics,
    evaluation, notes, gates, and `p_change`: the McNemar p-value of each proportion's change from the previous
    stage of the plan that scored the same items."""
    manifest = read_manifest(run_dir)
    plan = manifest.get("plan") or list(manifest["stages"])
    rows = []
    for name in plan:
        record = manifest["stages"].get(name, {})
        rows.append(
            {
                "stage": name,
                "status": record.get("status", ""),
                "training": record.get("metrics", {}),
                "evaluation": record.get("evaluation", {}),
                "notes": record.get("evaluation_notes", {}),
                "gates": record.get("gates", []),
            }
        )
    last: dict[str, dict[str, str]] = {}  # metric key -> the latest planned stage's outcomes
    for row in rows:
        path = run_dir / "eval" / f"{row['stage']}.json"
        outcomes = json.loads(path.read_text()) if path.is_file() else {}
        p_change = {}
        for key, record in outcomes.items():
            before = last.get(key)
            if before and before["questions"] == record["questions"]:
                p_change[key] = round(mcnemar_p(*([c == "1" for c in r["correct"]] for r in (before, record))), 4)
            last[key] = record
        row["p_change"] = p_change
    return rows


def columns(evaluations: list[dict[str, Any]]) -> dict[str, str]:
    """Key -> heading of every metric shown as a column in these evaluations, in the order first met."""
    out: dict[str, str] = {}
    for evaluation in evaluations:
        for key, record in evaluation.items():
            if record.get("column", True) and key not in out:
                out[key] = record["label"]
    return out


def metric_cell(record: dict[str, Any] | None, mark: str = "") -> str:
    """A metric as the tables show it: a proportion with its 95% interval, `59.75 [54.9, 64.4]`; any other value
    as it is."""
    if record is None:
        return ""
    interval = record.get("interval")
    if not interval:
        return f"{record['value']}{mark}"
    return f"{record['value']}{mark} [{interval[0]:.1f}, {interval[1]:.1f}]"


def markdown_table(rows: list[dict[str, Any]], paper: bool) -> str:
    """The stage table: metrics with their 95% interval and `*` on a significant change (footnote below), and
    the paper's numbers in brackets beside ours when asked."""
    present = columns([r["evaluation"] for r in rows])
    lines = ["| stage | status | " + " | ".join(present.values()) + " |", "|---|---|" + "---:|" * len(present)]
    for row in rows:
        cells = []
        for key in present:
            mark = "*" if row["p_change"].get(key, 1.0) < SIGNIFICANCE else ""
            cell = metric_cell(row["evaluation"].get(key), mark)
            if paper and key in PAPER.get(row["stage"], {}):
                cell += f" (paper {PAPER[row['stage']][key]})"
            cells.append(cell)
        lines.append(f"| {row['stage']} | {row['status']} | " + " | ".join(cells) + " |")
    if any(r["evaluation"].get(k, {}).get("interval") for r in rows for k in present):
        lines += ["", FOOTNOTE]
    return "\n".join(lines)


def training_table(rows: list[dict[str, Any]]) -> str:
    """The figures each stage's training recorded (steps, losses, time, ...), one column per number; '' if none."""
    keys: dict[str, None] = {}
    for row in rows:
        for key, value in row["training"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                keys.setdefault(key)
    trained = [r for r in rows if r["training"]]
    if not keys or not trained:
        return ""
    lines = ["| stage | " + " | ".join(k.replace("_", " ") for k in keys) + " |", "|---|" + "---:|" * len(keys)]
    for row in trained:
        lines.append(f"| {row['stage']} | " + " | ".join(str(row["training"].get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def _gate_figures(gate: dict[str, Any]) -> str:
    f = gate["figures"]
    if "reason" in f:
        return f["reason"]
    changes = f"{f['improved']} items better, {f['worsened']} worse"
    if gate["test"] == "gain":
        return f"{changes}; exact McNemar p = {f['p']} (alpha {f['alpha']})"
    low, high = f["interval"]
    level = round(100 * (1 - 2 * f["alpha"]))
    return f"{changes}; difference {f['difference']:+.2f} points, {level}% interval [{low:.2f}, {high:.2f}]"


def gates_table(rows: list[dict[str, Any]]) -> str:
    """One line per stage gate: what it asks, the two figures, the test's figures and the verdict; '' if none."""
    gates = [g for r in rows for g in r["gates"]]
    if not gates:
        return ""
    lines = ["| stage | gate | against | before -> after | figures | verdict |", "|---|---|---|---:|---|---|"]
    for g in gates:
        ask = f"gain on {g['metric']}" if g["test"] == "gain" else f"{g['metric']} not worse by {g['margin']} points"
        lines.append(
            f"| {g['stage']} | {ask} | {g['against']} | {g['before']} -> {g['after']} | {_gate_figures(g)} | "
            f"**{g['verdict']}** |"
        )
    return "\n".join(lines)


def _shorten(text: str, limit: int = 160) -> str:
    text = text.replace("\ufffd", "")  # an untrained byte-level model emits bytes that are no UTF-8
    return text if len(text) <= limit else text[:limit] + "…"


def _notes(rows: list[dict[str, Any]]) -> list[str]:
    """The notes benchmarks left: plain values (counts, decoding) once, example answers per stage."""
    lines: list[str] = []
    plain = {k: v for r in rows for k, v in r["notes"].items() if isinstance(v, (str, int, float))}
    if plain:
        lines += ["## Evaluation notes", "", *(f"- {k}: {v}" for k, v in plain.items()), ""]
    examples: dict[str, list[tuple[str, dict]]] = {}
    for row in rows:
        for key, value in row["notes"].items():
            if isinstance(value, dict) and {"question", "answer", "reference"} <= set(value):
                examples.setdefault(key, []).append((row["stage"], value))
    for key, answers in examples.items():
        first = answers[0][1]
        lines += [f"## One answer per stage ({key})", "", f"Question: {first['question']}", ""]
        lines += [f"Reference: {first['reference']}", ""]
        lines += [f"- **{stage}**: {_shorten(ex['answer']) or '(empty)'}" for stage, ex in answers]
        lines.append("")
    return lines


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
    if gates := gates_table(rows):
        lines += ["## Stage gates", "", gates, ""]
    if has_metrics:
        lines += ["## Evaluation by stage", "", "![metrics by stage](metrics.png)", ""]
    if training := training_table(rows):
        lines += ["## Training", "", training, ""]
    if has_losses:
        lines += ["![loss curves](losses.png)", ""]
    lines += _notes(rows)
    write_atomic(run_dir / "report.md", "\n".join(lines))
    return run_dir / "report.md"
