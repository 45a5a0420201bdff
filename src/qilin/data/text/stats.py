"""Record and length statistics for `qilin data check`, and the preference audit of DPO files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qilin.data.preference.audit import audit_preferences
from qilin.data.records import DataError
from qilin.data.text.formats import FileReport, iter_file


def _record_text(record: Any) -> str:
    if isinstance(record, str):
        return record
    if isinstance(record, list):
        return "\n".join(m["content"] for m in record)
    return "\n".join([*(m["content"] for m in record["prompt"]), record["chosen"], record["rejected"]])


def describe_file(path: str | Path, kind: str, tokenizer_dir: str | None = None) -> tuple[FileReport, str]:
    """Check a file and summarise it: format, record count, length statistics, or its first bad record."""
    tokenizer = None
    if tokenizer_dir:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    report = FileReport(str(path), kind)
    lengths = []
    preferences = []
    try:
        for record in iter_file(path, kind, report):
            if kind == "dpo":
                preferences.append(record)
            text = _record_text(record)
            lengths.append(len(tokenizer(text)["input_ids"]) if tokenizer else len(text))
    except DataError as e:  # the file as a whole is unusable: missing, empty, wrong type
        report.bad, report.first_error = max(report.bad, 1), e
        return report, f"{path}: BAD: {e.message}"
    unit = "tokens" if tokenizer else "characters"
    lines = [f"{path}: {kind} data, format {report.format}, {report.records} records, {report.bad} bad"]
    if lengths:
        a = np.asarray(lengths)
        lines.append(
            f"  {unit} per record: total {a.sum()}, mean {a.mean():.1f}, median {np.median(a):.0f}, "
            f"p95 {np.percentile(a, 95):.0f}, max {a.max()}"
        )
    if report.first_error is not None:
        e = report.first_error
        lines.append(f"  first bad record: {e.path}:{e.where}: {e.message}")
    if preferences:
        audit = audit_preferences(preferences)
        lines.append(audit.summary())
        lines += [f"  warning: {w}" for w in audit.warnings()]
    return report, "\n".join(lines)
