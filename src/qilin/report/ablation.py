"""The ablation table: one row per variant (full recipe, without DCPT, SFT, DPO), the final model's evaluation.

ablation.md, ablation.json and ablation.png in the ablation folder. With one seed a cell is the stage table's
(`59.75 [54.9, 64.4]`: the 95% Wilson interval over the test questions); with several, `mean ± sd (min–max)` over
seeds (sd: the sample standard deviation), which shows training noise that an interval over questions cannot.
Columns are the evaluation's (training figures stay in each run's report).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from qilin.durable import write_atomic
from qilin.report.plots import grouped_bars, panels
from qilin.report.stage_table import columns, metric_cell, read_manifest

BASE_LABEL = "base model (no training)"
SEEDS_FOOTNOTE = (
    "Each cell: mean ± sample standard deviation over {n} training seeds (min–max); each seed trains every stage "
    "again with its own data order, dropout and LoRA initialisation."
)
ONE_SEED_FOOTNOTE = "[a, b]: 95% Wilson interval over the test questions (one training seed)."


def final_evaluation(run_dir: Path, stage: str) -> dict[str, Any]:
    """The evaluation (metric records) a run directory's manifest records for one stage."""
    stages = read_manifest(run_dir)["stages"]
    if stage not in stages:
        raise KeyError(f"{run_dir / 'manifest.json'}: no stage {stage!r}")
    return stages[stage].get("evaluation", {})


def ablation_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant, in the order run: label, run directories, final stage, evaluation per seed, summary."""
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        row = rows.setdefault(
            run["variant"],
            {"variant": run["variant"], "label": run["label"], "final_stage": run["final_stage"], "runs": []},
        )
        evaluation = final_evaluation(Path(run["run_dir"]), run["final_stage"])
        row["runs"].append({"seed": run["seed"], "run_dir": run["run_dir"], "evaluation": evaluation})
    full = next((r for r in runs if r["variant"] == "full" and r["seed"] == 0), None)
    if full is not None:
        base = final_evaluation(Path(full["run_dir"]), "base")
        rows["base"] = {"variant": "base", "label": BASE_LABEL, "final_stage": "base", "runs": []}
        rows["base"]["runs"].append({"seed": None, "run_dir": full["run_dir"], "evaluation": base})
    keys = metric_columns(rows.values())
    for row in rows.values():
        row["summary"] = {
            key: summarize([r["evaluation"][key]["value"] for r in row["runs"] if key in r["evaluation"]])
            for key in keys
        }
    return list(rows.values())


def metric_columns(rows: Any) -> dict[str, str]:
    """Key -> heading of the evaluation columns of these variants' final models."""
    return columns([r["evaluation"] for row in rows for r in row["runs"]])


def summarize(values: list[float]) -> dict[str, float] | None:
    """Mean, sample standard deviation (0 for one value), min and max of a metric over seeds; None if no value."""
    values = [v for v in values if isinstance(v, (int, float))]
    if not values:
        return None
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "mean": round(statistics.fmean(values), 2),
        "sd": round(sd, 2),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def _cell(row: dict[str, Any], key: str) -> str:
    if len(row["runs"]) == 1:
        return metric_cell(row["runs"][0]["evaluation"].get(key))
    s = row["summary"].get(key)
    return "" if s is None else f"{s['mean']:.2f} ± {s['sd']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def ablation_table(rows: list[dict[str, Any]]) -> str:
    """The markdown table, a row per variant and a column per final metric, with its footnote."""
    keys = metric_columns(rows)
    seeds = max(len(r["runs"]) for r in rows)
    lines = ["| variant | final stage | " + " | ".join(keys.values()) + " |", "|---|---|" + "---:|" * len(keys)]
    for row in rows:
        lines.append(f"| {row['label']} | {row['final_stage']} | " + " | ".join(_cell(row, k) for k in keys) + " |")
    note = SEEDS_FOOTNOTE.format(n=seeds) if seeds > 1 else ONE_SEED_FOOTNOTE
    return "\n".join([*lines, "", note])


def _error(row: dict[str, Any], key: str) -> tuple[float, float, float]:
    """(value, below, above) of a bar: the mean with ± sd over seeds, or one seed's value with its interval."""
    s = row["summary"].get(key)
    if s is None:
        return 0.0, 0.0, 0.0
    if len(row["runs"]) > 1:
        return s["mean"], s["sd"], s["sd"]
    low, high = row["runs"][0]["evaluation"][key].get("interval") or (s["mean"], s["mean"])
    return s["mean"], s["mean"] - low, high - s["mean"]


def plot_ablation(rows: list[dict[str, Any]], out: Path) -> bool:
    """Bars of each plotted final metric by variant (error bars: sd over seeds, or the 95% interval)."""
    found = panels([r["evaluation"] for row in rows for r in row["runs"]])
    if not found:
        return False
    bars = {title: {label: [_error(r, k) for r in rows] for k, label in keys.items()} for title, keys in found.items()}
    grouped_bars([r["label"].replace(" (", "\n(") for r in rows], bars, out)
    return True


def write_ablation(runs: list[dict[str, Any]], out_dir: Path, recipe_name: str) -> Path:
    """Write ablation.md, ablation.json and ablation.png into `out_dir`; returns ablation.md."""
    rows = ablation_rows(runs)
    table = ablation_table(rows)
    has_plot = plot_ablation(rows, out_dir / "ablation.png")
    seeds = sorted({r["seed"] for r in runs})
    payload = {"recipe": recipe_name, "seeds": seeds, "columns": metric_columns(rows), "variants": rows, "runs": runs}
    write_atomic(out_dir / "ablation.json", json.dumps(payload, ensure_ascii=False, indent=1))
    lines = [f"# Stage ablation: {recipe_name}", "", table, ""]
    lines += ["Run directories: " + ", ".join(f"`{r['run_dir']}`" for r in runs), ""]
    if has_plot:
        lines += ["![ablation](ablation.png)", ""]
    write_atomic(out_dir / "ablation.md", "\n".join(lines))
    return out_dir / "ablation.md"
