"""The ablation table: one row per variant (full recipe, without DCPT, SFT, DPO), the final model's metrics.

ablation.md, ablation.json and ablation.png in the ablation folder. With one seed a cell is the stage table's
(`59.75 [54.9, 64.4]`: the 95% Wilson interval over the test questions); with several, `mean ± sd (min–max)` over
seeds (sd: the sample standard deviation), which shows training noise that an interval over questions cannot.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from qilin.durable import write_atomic
from qilin.eval.significance import interval_of_accuracy
from qilin.pipeline.ablation import stage_metrics
from qilin.report import SHARED_N, columns, metric_cell, save_figure

# Stage-table columns about training, not about the final model.
TRAINING_KEYS = ("first_loss", "last_loss", "steps", "train_seconds", "tokens_per_second", "reward_accuracy")
BASE_LABEL = "base model (no training)"
SEEDS_FOOTNOTE = (
    "Each cell: mean ± sample standard deviation over {n} training seeds (min–max); each seed trains every stage "
    "again with its own data order, dropout and LoRA initialisation."
)
ONE_SEED_FOOTNOTE = "[a, b]: 95% Wilson interval over the test questions (one training seed)."


def ablation_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant, in the order run: label, run directories, final stage, metrics per seed, summary."""
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        row = rows.setdefault(
            run["variant"],
            {"variant": run["variant"], "label": run["label"], "final_stage": run["final_stage"], "runs": []},
        )
        metrics = stage_metrics(Path(run["run_dir"]), run["final_stage"])
        row["runs"].append({"seed": run["seed"], "run_dir": run["run_dir"], "metrics": metrics})
    full = next((r for r in runs if r["variant"] == "full" and r["seed"] == 0), None)
    if full is not None:
        base = stage_metrics(Path(full["run_dir"]), "base")
        rows["base"] = {"variant": "base", "label": BASE_LABEL, "final_stage": "base", "runs": []}
        rows["base"]["runs"].append({"seed": None, "run_dir": full["run_dir"], "metrics": base})
    keys = metric_columns(rows.values())
    for row in rows.values():
        row["summary"] = {
            key: summarize([r["metrics"][key] for r in row["runs"] if key in r["metrics"]]) for key in keys
        }
    return list(rows.values())


def metric_columns(rows: Any) -> dict[str, str]:
    """Key -> heading of the evaluation columns the stage table would show for these final models."""
    present = columns([r["metrics"] for row in rows for r in row["runs"]])
    return {k: h for k, h in present.items() if k not in TRAINING_KEYS}


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
        return metric_cell(row["runs"][0]["metrics"], key)
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


def _error(row: dict[str, Any], key: str) -> tuple[float, float, float] | None:
    """(value, below, above) of a bar: the mean with ± sd over seeds, or one seed's value with its interval."""
    s = row["summary"].get(key)
    if s is None:
        return None
    if len(row["runs"]) > 1:
        return s["mean"], s["sd"], s["sd"]
    metrics = row["runs"][0]["metrics"]
    n = metrics.get(f"{key}_n", metrics.get(SHARED_N.get(key, "")))
    if not isinstance(n, int) or n <= 0:  # BLEU, ROUGE, safety rates: no interval over questions
        return s["mean"], 0.0, 0.0
    low, high = interval_of_accuracy(s["mean"], n)
    return s["mean"], s["mean"] - low, high - s["mean"]


def plot_ablation(rows: list[dict[str, Any]], out: Path) -> bool:
    """Bars of each final metric by variant (error bars: sd over seeds, or the 95% interval); False if none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = metric_columns(rows)
    numeric = [k for k in keys if any(_error(r, k) for r in rows)]
    groups = {
        "Open QA": [k for k in numeric if k.startswith("qa_")],
        "Safety (%), lower is better": [k for k in numeric if k.startswith(("unsafe", "over_refusal", "safety"))],
    }
    # Losses are not percentages: they stay in the table, out of the accuracy panel.
    accuracy = [k for k in numeric if not any(k in g for g in groups.values()) and not k.endswith("_loss")]
    groups = {"Accuracy (%)": accuracy, **groups}
    panels = [(title, ks) for title, ks in groups.items() if ks]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5.4), squeeze=False)
    for ax, (title, ks) in zip(axes[0], panels, strict=True):
        width = 0.8 / len(ks)
        for i, key in enumerate(ks):
            bars = [_error(r, key) or (0.0, 0.0, 0.0) for r in rows]
            xs = [x + (i - (len(ks) - 1) / 2) * width for x in range(len(rows))]
            drawn = ax.bar(
                xs,
                [b[0] for b in bars],
                width,
                label=keys[key],
                capsize=2,
                ecolor="#555555",
                yerr=[[b[1] for b in bars], [b[2] for b in bars]],
            )
            if len(ks) <= 4:  # more labels than that overlap
                ax.bar_label(drawn, fmt="%.1f", fontsize=8)
        ax.set_xticks(range(len(rows)), [r["label"].replace(" (", "\n(") for r in rows], fontsize=8)
        ax.set_title(title)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)  # below: never over a bar
        ax.grid(axis="y", alpha=0.3)
    save_figure(fig, out)
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
