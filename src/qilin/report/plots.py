"""The report's charts: loss curves, metrics by stage, final metrics by ablation variant; saved atomically.

Panels come from each metric's `panel` and `plot` (declared by its benchmark); error bars from its interval.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def save_figure(fig: Any, out: Path) -> None:
    """Write a matplotlib figure to `out` atomically (a reader never sees half a PNG) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, out)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(run_dir: Path, out: Path) -> bool:
    """Training loss against step for every stage that logged one; False when there is nothing to plot."""
    histories = {}
    for stage in ("cpt", "sft", "dpo"):
        path = run_dir / stage / "log_history.json"
        if path.exists():
            points = [(h["step"], h["loss"]) for h in json.loads(path.read_text()) if "loss" in h]
            if points:
                histories[stage] = points
    if not histories:
        return False
    plt = _pyplot()
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


def panels(evaluations: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """{panel title: {metric key: label}} of the plotted metrics in these evaluations, in the order first met."""
    out: dict[str, dict[str, str]] = {}
    for evaluation in evaluations:
        for key, record in evaluation.items():
            if record.get("plot") and isinstance(record.get("value"), (int, float)):
                out.setdefault(record["panel"], {}).setdefault(key, record["label"])
    return out


def _bar(record: dict[str, Any] | None) -> tuple[float, float, float]:
    """(value, below, above) of a bar with its interval as error bar."""
    if record is None:
        return 0.0, 0.0, 0.0
    value = record["value"]
    low, high = record.get("interval") or (value, value)
    return value, value - low, high - value


def grouped_bars(groups: list[str], bars: dict[str, dict[str, list[tuple[float, float, float]]]], out: Path) -> None:
    """One panel per title, one group of bars per x label; bars[title][label] = (value, below, above) per group."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(bars), figsize=(6 * len(bars), 5.4), squeeze=False)
    for ax, (title, series) in zip(axes[0], bars.items(), strict=True):
        width = 0.8 / len(series)
        for i, (label, values) in enumerate(series.items()):
            xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(groups))]
            errors = [[v[1] for v in values], [v[2] for v in values]]
            drawn = ax.bar(xs, [v[0] for v in values], width, label=label, yerr=errors, capsize=2, ecolor="#555555")
            if len(series) <= 5:  # more labels than that overlap
                ax.bar_label(drawn, fmt="%.1f", fontsize=8)
        ax.set_xticks(range(len(groups)), groups, fontsize=8)
        ax.set_title(title)
        if "%" in title:
            ax.set_ylim(0, 100)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)  # below: never over a bar
        ax.grid(axis="y", alpha=0.3)
    save_figure(fig, out)


def plot_metrics(rows: list[dict[str, Any]], out: Path) -> bool:
    """Evaluation metrics by stage as grouped bars, one panel per kind of metric; False when none is plotted."""
    found = panels([r["evaluation"] for r in rows])
    if not found:
        return False
    rows = [r for r in rows if r["evaluation"]]  # stages with evaluations
    bars = {
        f"{title} by stage": {label: [_bar(r["evaluation"].get(k)) for r in rows] for k, label in keys.items()}
        for title, keys in found.items()
    }
    grouped_bars([r["stage"] for r in rows], bars, out)
    return True
