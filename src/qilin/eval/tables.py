"""Accuracy tables: one row per group of questions (all, a question type, an annotation value), as every
multiple-choice evaluation reports them.

    accuracy_by_group([(True, ["all", "Type=x"]), (False, ["all"])])
    # {"Type=x": {"accuracy": 100.0, "n": 1}, "all": {"accuracy": 50.0, "n": 2}}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def accuracy_by_group(outcomes: Iterable[tuple[bool, Iterable[str]]]) -> dict[str, dict[str, float | int]]:
    """{group: {"accuracy": percent to 2 decimals, "n": questions}} from (correct, groups it belongs to) pairs,
    groups in sorted order."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for ok, names in outcomes:
        for name in names:
            groups[name].append(ok)
    return {k: {"accuracy": round(100 * sum(v) / len(v), 2), "n": len(v)} for k, v in sorted(groups.items())}
