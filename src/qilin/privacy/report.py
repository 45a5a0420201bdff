"""What de-identification found, per type: counts and a few examples in context with the value itself masked.

report = PhiReport(); report.add(spans, texts); report.table()   # "name   12   患者：«王**»，男，45岁 | ..."

An example shows the words around a hit (the hit between « », starred but for its first and last character; any
other PHI in the window starred too), so a reviewer can tell a wrong mask (患者«高*»血症) from a right one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qilin.privacy.spans import TYPES, Span

_EXAMPLES = 5
_CONTEXT = 12  # characters shown on each side of a hit


def mask_value(value: str) -> str:
    """`value` with all but its first (and, past 4 characters, last) character starred: 王小明 -> 王**."""
    if len(value) <= 4:
        return value[0] + "*" * (len(value) - 1)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def in_context(text: str, spans: list[Span], hit: Span) -> str:
    """The words around `hit` in `text`, the hit shown as «王**» and every other span in the window starred."""
    lo, hi = max(0, hit.start - _CONTEXT), min(len(text), hit.end + _CONTEXT)
    out, pos = [], lo
    for span in spans:
        if span.end <= lo or span.start >= hi:
            continue
        start, end = max(span.start, lo), min(span.end, hi)
        out.append(text[pos:start])
        out.append(f"«{mask_value(span.value)}»" if span is hit else "*" * (end - start))
        pos = end
    out.append(text[pos:hi])
    body = "".join(out).replace("\n", " ")
    return ("…" if lo else "") + body + ("…" if hi < len(text) else "")


@dataclass
class PhiReport:
    """Counts of PHI spans per type over files, records and fields, with masked examples."""

    files: list[str] = field(default_factory=list)
    records: int = 0
    records_with_phi: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TYPES, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TYPES})

    def add(self, spans_per_text: list[list[Span]], texts: list[str] | None = None) -> None:
        """Count one record's spans (a list per text field); `texts` (the original fields) give examples context."""
        self.records += 1
        self.records_with_phi += any(spans_per_text)
        for i, spans in enumerate(spans_per_text):
            for span in spans:
                self.counts[span.type] += 1
                if len(self.examples[span.type]) >= _EXAMPLES:
                    continue
                example = in_context(texts[i], spans, span) if texts else mask_value(span.value)
                if example not in self.examples[span.type]:
                    self.examples[span.type].append(example)

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
        lines += [f"  {t:<8} {n:>6}  {' | '.join(self.examples[t])}" for t, n in self.counts.items() if n]
        return "\n".join(lines)
