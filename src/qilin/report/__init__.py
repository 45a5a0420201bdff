"""The reports the pipeline writes: the stage table (report.md, report.json, losses.png, metrics.png) of a run,
and the ablation table (ablation.md, .json, .png) of `qilin run --ablate`. Public names below."""

from qilin.report.ablation import ablation_rows, ablation_table, write_ablation
from qilin.report.stage_table import markdown_table, metric_cell, stage_rows, write_report

__all__ = [
    "ablation_rows",
    "ablation_table",
    "markdown_table",
    "metric_cell",
    "stage_rows",
    "write_ablation",
    "write_report",
]
