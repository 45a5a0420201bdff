"""What de-identification found, per type: counts and a few examples with the value itself masked.

report = PhiReport(); report.add(spans); report.table()   # "phone   12   1*********8, ..."
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qilin.privacy.spans import TYPES, Span

_EXAMPLES = 3


def mask_value(value: str) -> str:
    """`value` with all but its first (and, past 4 characters, last) character starred: 王小明 -> 王**."""
    if len(value) <= 4:
        return value[0] + "*" * (len(value) - 1)
    return value[0] + "*" * (len(value) - 2) + value[-1]


@dataclass
class PhiReport:
    """Counts of PHI spans per type over files, records and fields, with masked examples."""

    files: list[str] = field(default_factory=list)
    records: int = 0
    records_with_phi: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TYPES, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TYPES})

    def add(self, spans_per_text: list[list[Span]]) -> None:
        """Count one record's spans (a list per text field)."""
        self.records += 1
        self.records_with_phi += any(spans_per_text)
        for spans in spans_per_text:
            for span in spans:
                self.counts[span.type] += 1
                masked = mask_value(span.value)
                if len(self.examples[span.type]) < _EXAMPLES and masked not in self.examples[span.type]:
                    self.examples[span.type].append(masked)

    @property
    def total(self) -> int:
        """Spans of every type."""
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        """The report as written to deid_report.json."""
        return {
            "files": self.files,
            "records": self.records,
            "records_with_phi": self.records_with_phi,
            "types": {t: {"count": self.counts[t], "examples": self.examples[t]} for t in TYPES},
        }

    def table(self) -> str:
        """One line per type found: count and masked examples."""
        lines = [f"{self.records_with_phi} of {self.records} records hold PHI; {self.total} values"]
        lines += [f"  {t:<8} {n:>6}  {', '.join(self.examples[t])}" for t, n in self.counts.items() if n]
        return "\n".join(lines)
