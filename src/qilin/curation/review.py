"""Expert review of translated ChiMed-VL items: a sampled queue, decisions saved as made, apply, agreement.

queue = sample_queue(read_translations(out), sample=200, seed=0)   # every kind/flag stratum, flagged items first
record_decision(out, "wang", item, "edit", ["右肺上叶结节。"])      # appended + fsynced to review/decisions-wang.jsonl
apply_reviews(out, final_dir)                                      # accepted as is, edits applied, rejects removed
review_stats(out)                                                  # percent agreement and Cohen's kappa per pair

Qilin-Med-VL had experts check the machine translation; this is that step, with the decisions kept as an
append-only log per reviewer (the last decision on an item counts) so nothing a reviewer did is lost to a crash.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qilin.config import ConfigError
from qilin.curation.checks import FLAG_NAMES
from qilin.curation.translate import TranslatedItem, read_translations, write_dataset
from qilin.durable import append_jsonl, read_jsonl_log, write_atomic

DECISIONS = ("accept", "edit", "reject")
_REVIEWER = re.compile(r"^[\w.\-]{1,64}$")  # it becomes part of a file name: no separators


def decisions_path(dataset_dir: str | Path, reviewer: str) -> Path:
    """review/decisions-REVIEWER.jsonl of a translation output directory."""
    if not _REVIEWER.match(reviewer) or set(reviewer) == {"."}:
        raise ConfigError(f"reviewer name {reviewer!r}: use letters, digits, '.', '-' or '_' (at most 64)")
    return Path(dataset_dir) / "review" / f"decisions-{reviewer}.jsonl"


def stratum(result: TranslatedItem) -> tuple[str, str]:
    """(kind, the item's first flag in FLAG_NAMES order, or "ok"): what the sample is stratified by."""
    names = {f["name"] for f in result.flags}
    return result.item.kind, next((n for n in FLAG_NAMES if n in names), "ok" if not names else sorted(names)[0])


def sample_queue(results: list[TranslatedItem], sample: int | None = None, seed: int = 0) -> list[TranslatedItem]:
    """A review queue of `sample` items (all when None): every stratum represented, flagged items first.

    Each stratum gets one item (flagged strata first while the budget lasts), the rest is shared in proportion to
    stratum size (largest remainder), so a rare flag is seen even in a small sample. Deterministic given `seed`:
    two reviewers with the same seed see the same items.
    """
    order = {id(r): i for i, r in enumerate(results)}
    strata: dict[tuple[str, str], list[TranslatedItem]] = defaultdict(list)
    for r in results:
        strata[stratum(r)].append(r)
    keys = sorted(strata, key=lambda k: (k[1] == "ok", k))
    rng = random.Random(seed)
    for k in keys:
        rng.shuffle(strata[k])
    if sample is None or sample >= len(results):
        chosen = list(results)
    else:
        take = {k: 0 for k in keys}
        for k in keys[:sample]:
            take[k] = 1
        budget, rest = sample - sum(take.values()), {k: len(strata[k]) - take[k] for k in keys}
        if budget > 0:
            quota = {k: budget * rest[k] / sum(rest.values()) for k in keys}
            for k in keys:
                take[k] += math.floor(quota[k])
            by_remainder = sorted(keys, key=lambda k: (-(quota[k] - math.floor(quota[k])), keys.index(k)))
            for k in by_remainder[: sample - sum(take.values())]:
                take[k] += 1
        chosen = [r for k in keys for r in strata[k][: take[k]]]
    return sorted(chosen, key=lambda r: (not r.flags, order[id(r)]))


def record_decision(
    dataset_dir: str | Path, reviewer: str, result: TranslatedItem, decision: str, edited: list[str] | None = None
) -> dict[str, Any]:
    """Validate a decision and append it (fsynced) to the reviewer's log; an edit that changes nothing is an accept."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if decision == "edit":
        n = len(result.translation)
        if not isinstance(edited, list) or len(edited) != n or not all(isinstance(t, str) for t in edited):
            raise ValueError(f"an edit gives the whole translation: a list of {n} text(s), one per segment")
        edited = [t.strip() for t in edited]
        if not all(edited):
            raise ValueError("an edited segment is empty; reject the item instead")
        if edited == result.translation:
            decision, edited = "accept", None
    else:
        edited = None
    return append_decision(dataset_dir, reviewer, {"id": result.item.id, "decision": decision, "edited": edited})


def append_decision(directory: str | Path, reviewer: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Append a reviewer's decision, stamped with reviewer and UTC time, to their log (fsynced); returns the row."""
    row = {"reviewer": reviewer, **fields, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
    path = decisions_path(directory, reviewer)
    path.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(path, row)
    return row


def load_decisions(path: Path) -> dict[str, dict[str, Any]]:
    """Each item's latest decision in one reviewer's log."""
    return {row["id"]: row for row in read_jsonl_log(path) if row.get("decision") in DECISIONS}


def reviewer_logs(dataset_dir: str | Path) -> dict[str, Path]:
    """Reviewer name -> decision log, for every reviewer who saved a decision."""
    folder = Path(dataset_dir) / "review"
    return {p.stem.removeprefix("decisions-"): p for p in sorted(folder.glob("decisions-*.jsonl"))}


def apply_reviews(
    dataset_dir: str | Path,
    out_dir: str | Path,
    reviewers: list[str] | None = None,
    keep_unreviewed: bool = False,
) -> dict[str, Any]:
    """Write the reviewed dataset to `out_dir`; where reviewers differ on an item, the latest decision counts."""
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    if out_dir.resolve() == dataset_dir.resolve():
        raise ConfigError(f"--out {out_dir} is the translation directory; give a new one for the reviewed dataset")
    logs = reviewer_logs(dataset_dir)
    if reviewers:
        if missing := [r for r in reviewers if r not in logs]:
            raise FileNotFoundError(f"no decisions from {', '.join(missing)} in {dataset_dir / 'review'}")
        logs = {r: logs[r] for r in reviewers}
    latest: dict[str, dict[str, Any]] = {}
    for path in logs.values():
        for item_id, row in load_decisions(path).items():
            if item_id not in latest or row["time"] > latest[item_id]["time"]:
                latest[item_id] = row
    final, counts = [], Counter()
    for result in read_translations(dataset_dir):
        row = latest.get(result.item.id)
        decision = row["decision"] if row else "unreviewed"
        counts[decision] += 1
        if decision == "reject" or (decision == "unreviewed" and not keep_unreviewed):
            continue
        if decision == "edit":
            result = TranslatedItem(result.item, list(row["edited"]), [], result.back_translation)
        final.append(result)
    outputs = write_dataset(final, out_dir)
    summary = {
        "reviewers": sorted(logs),
        "accepted": counts["accept"],
        "edited": counts["edit"],
        "rejected": counts["reject"],
        "unreviewed": counts["unreviewed"],
        "unreviewed_kept": keep_unreviewed,
        "written": len(final),
        "outputs": {kind: str(path) for kind, path in outputs.items()},
    }
    write_atomic(out_dir / "review_summary.json", json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    return summary


def cohens_kappa(a: list[str], b: list[str], categories: tuple[str, ...] = DECISIONS) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None when chance agreement is 1 (undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        raise ValueError("kappa needs two equally long, non-empty label lists")
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    count_a, count_b = Counter(a), Counter(b)
    chance = sum(count_a[c] * count_b[c] for c in categories) / (n * n)
    return None if chance == 1 else (observed - chance) / (1 - chance)


def agreement(
    first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]], categories: tuple[str, ...] = DECISIONS
) -> dict[str, Any]:
    """Percent agreement and Cohen's kappa over the rows' `decision` (one of `categories`) on the items both
    reviewers decided."""
    shared = sorted(first.keys() & second.keys())
    if not shared:
        return {"items": 0, "percent_agreement": None, "kappa": None, "confusion": {}}
    a = [first[i]["decision"] for i in shared]
    b = [second[i]["decision"] for i in shared]
    confusion = Counter(f"{x}/{y}" for x, y in zip(a, b, strict=True))
    return {
        "items": len(shared),
        "percent_agreement": 100 * sum(x == y for x, y in zip(a, b, strict=True)) / len(shared),
        "kappa": cohens_kappa(a, b, categories),
        "confusion": dict(sorted(confusion.items())),
    }


def review_stats(dataset_dir: str | Path) -> dict[str, Any]:
    """Agreement of every pair of reviewers; also written to review/agreement.json."""
    logs = reviewer_logs(dataset_dir)
    if not logs:
        raise FileNotFoundError(f"no decisions in {Path(dataset_dir) / 'review'}; run `qilin data review` first")
    decisions = {name: load_decisions(path) for name, path in logs.items()}
    pairs = [{"reviewers": [x, y], **agreement(decisions[x], decisions[y])} for x, y in itertools.combinations(logs, 2)]
    stats = {"decided": {name: len(d) for name, d in decisions.items()}, "pairs": pairs}
    write_atomic(Path(dataset_dir) / "review" / "agreement.json", json.dumps(stats, indent=1) + "\n")
    return stats


def recorded_images(dataset_dir: str | Path) -> Path:
    """The image folder `qilin data translate` recorded in the dataset's summary.json."""
    summary = Path(dataset_dir) / "summary.json"
    if not summary.is_file():
        raise FileNotFoundError(f"{summary} not found; give --images DIR")
    return Path(json.loads(summary.read_text(encoding="utf-8"))["images"])
