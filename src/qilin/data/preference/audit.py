"""What a DPO file teaches besides its labels: `qilin data check --kind dpo` warns before anyone trains on it.

    audit = audit_preferences(read_file("dpo.jsonl", "dpo"))
    audit.warnings()   # ["12 of 400 pairs have chosen == rejected ...", "81% of pairs prefer the longer answer ..."]

- chosen == rejected: the pair carries no preference, only noise in the loss;
- exact duplicate pairs: weighted twice without anyone deciding so;
- length bias: when most chosen answers are the longer one, DPO learns "longer wins" as readily as "correct wins"
  (a known failure of preference data: Singhal et al. 2023, "A Long Way to Go: Investigating Length Correlations
  in RLHF"). Empty answers never get this far: the reader refuses them as bad records, naming the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Share of pairs whose chosen answer is the longer one above which the file is flagged (half is no bias).
LENGTH_BIAS_SHARE = 0.7


@dataclass
class PreferenceAudit:
    """Counts over a file's pairs."""

    pairs: int = 0
    identical: int = 0
    duplicates: int = 0
    chosen_longer: int = 0
    length_ratios: list[float] = field(default_factory=list)  # len(chosen) / len(rejected), in characters

    def chosen_longer_share(self) -> float:
        """Share of pairs whose chosen answer is longer than the rejected one."""
        return self.chosen_longer / self.pairs if self.pairs else 0.0

    def mean_length_ratio(self) -> float:
        """Mean of len(chosen) / len(rejected)."""
        return sum(self.length_ratios) / len(self.length_ratios) if self.length_ratios else 0.0

    def summary(self) -> str:
        """One line: the length statistics, always shown."""
        return (
            f"  preferences: chosen longer in {self.chosen_longer_share():.0%} of {self.pairs} pairs, "
            f"mean length ratio chosen/rejected {self.mean_length_ratio():.2f}"
        )

    def warnings(self) -> list[str]:
        """What a user should fix or knowingly accept before training."""
        found = []
        if self.identical:
            found.append(f"{self.identical} of {self.pairs} pairs have chosen == rejected (no preference to learn)")
        if self.duplicates:
            found.append(f"{self.duplicates} of {self.pairs} pairs repeat an earlier pair exactly (weighted twice)")
        if self.pairs and self.chosen_longer_share() >= LENGTH_BIAS_SHARE:
            found.append(
                f"{self.chosen_longer_share():.0%} of pairs prefer the longer answer (mean length ratio "
                f"{self.mean_length_ratio():.2f}): 'longer wins' is what this data teaches as much as 'correct wins'"
            )
        return found


def audit_preferences(records: Iterable[dict[str, Any]]) -> PreferenceAudit:
    """Audit preference records in the normal form of the dpo readers (prompt messages, chosen, rejected)."""
    audit = PreferenceAudit()
    seen: set[str] = set()
    for record in records:
        audit.pairs += 1
        chosen, rejected = record["chosen"].strip(), record["rejected"].strip()
        audit.identical += chosen == rejected
        key = json.dumps([record["prompt"], chosen, rejected], ensure_ascii=False, sort_keys=True)
        audit.duplicates += key in seen
        seen.add(key)
        audit.chosen_longer += len(chosen) > len(rejected)
        audit.length_ratios.append(len(chosen) / max(len(rejected), 1))
    return audit
