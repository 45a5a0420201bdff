"""Clinicians' preferences between two answers: a blind left/right order, a decision log, DPO pairs, agreement.

order = blind_order(cmp, "wang", items)                  # item id -> the answer shown on the left, drawn once
record_preference(cmp, "wang", item, order[id], "left", ["wrong_fact"], edited="更正后的回答")
apply_preferences(cmp, "pairs.jsonl")                    # majority of reviewers, ties and splits dropped
preference_stats(cmp)                                    # per reviewer counts, pairwise kappa on A/B/tie

The reviewer only ever sees "left" and "right"; which answer (A or B of `qilin.curation.compare`) sits on the left
is drawn at random per reviewer and item, kept server-side in review/order-REVIEWER.json, and written into each
decision, so apply and stats map a decision back to A/B. Decisions go to the same append-only, fsynced
review/decisions-REVIEWER.jsonl logs as translation review; the last decision on an item counts.

Apply rule: an item becomes a pair when more than half of the reviewers who decided it name the same answer
better; a tie (by that majority) or no majority (two reviewers who disagree) drops it. Its chosen text is that
answer, or the latest edit of it by a reviewer of the majority.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from qilin.curation.compare import LABELS, read_comparison
from qilin.curation.review import agreement, append_decision, decisions_path, reviewer_logs
from qilin.durable import read_jsonl_log, write_atomic

CHOICES = ("left", "right", "tie")
# Why one answer is worse (or both, on a tie): the tags the page offers, in its order.
REASONS = ("wrong_fact", "unsafe", "incomplete", "off_topic", "verbose")
OUTCOMES = (*LABELS, "tie")


def order_path(compare_dir: str | Path, reviewer: str) -> Path:
    """review/order-REVIEWER.json: which answer this reviewer sees on the left, per item."""
    return decisions_path(compare_dir, reviewer).with_name(f"order-{reviewer}.json")


def blind_order(
    compare_dir: str | Path, reviewer: str, items: list[dict[str, Any]], rng: random.Random | None = None
) -> dict[str, str]:
    """Item id -> "A" or "B", the answer shown on the left: read back, with new items drawn and saved first.

    Drawn per reviewer, so one reviewer's habit of picking the left answer does not look like agreement between
    two of them. The draw is kept, so a reloaded page shows the same sides.
    """
    path = order_path(compare_dir, reviewer)
    order = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    missing = [item["id"] for item in items if item["id"] not in order]
    if missing:
        rng = rng or random.SystemRandom()  # unpredictable: nothing in the seed or the ids tells the sides
        order.update({item_id: rng.choice(LABELS) for item_id in missing})
        write_atomic(path, json.dumps(order, indent=0) + "\n")
    return order


def other(label: str) -> str:
    """The other answer: A <-> B."""
    return LABELS[1 - LABELS.index(label)]


def record_preference(
    compare_dir: str | Path,
    reviewer: str,
    item: dict[str, Any],
    left: str,
    better: str,
    reasons: list[str] | None = None,
    edited: str | None = None,
) -> dict[str, Any]:
    """Validate a decision (left/right/tie, tags, an edit of the better answer) and append it, fsynced, to the log.

    `left` is the answer the reviewer saw on the left; it is stored with the decision. An edit that changes
    nothing is no edit.
    """
    if better not in CHOICES:
        raise ValueError(f"better must be one of {', '.join(CHOICES)}, got {better!r}")
    if left not in LABELS:
        raise ValueError(f"left must be one of {', '.join(LABELS)}, got {left!r}")
    reasons = list(reasons or [])
    if unknown := [r for r in reasons if r not in REASONS]:
        raise ValueError(f"unknown reason(s) {', '.join(map(str, unknown))}; reasons: {', '.join(REASONS)}")
    if edited is not None:
        if better == "tie":
            raise ValueError("an edit rewrites the better answer; a tie has none")
        if not isinstance(edited, str) or not edited.strip():
            raise ValueError("the edited answer is empty")
        edited = edited.strip()
        if edited == item[left if better == "left" else other(left)].strip():
            edited = None
    reasons = [r for r in REASONS if r in reasons]  # page order, each once
    fields = {"id": item["id"], "better": better, "left": left, "reasons": reasons, "edited": edited}
    return append_decision(compare_dir, reviewer, fields)


def load_preferences(path: Path) -> dict[str, dict[str, Any]]:
    """Each item's latest decision in one reviewer's log."""
    return {
        row["id"]: row for row in read_jsonl_log(path) if row.get("better") in CHOICES and row.get("left") in LABELS
    }


def outcome(row: dict[str, Any]) -> str:
    """A decision mapped back to the answers: "A", "B" or "tie"."""
    if row["better"] == "tie":
        return "tie"
    return row["left"] if row["better"] == "left" else other(row["left"])


def _decisions(compare_dir: Path, reviewers: list[str] | None) -> dict[str, dict[str, dict[str, Any]]]:
    logs = reviewer_logs(compare_dir)
    if reviewers:
        if missing := [r for r in reviewers if r not in logs]:
            raise FileNotFoundError(f"no decisions from {', '.join(missing)} in {compare_dir / 'review'}")
        logs = {r: logs[r] for r in reviewers}
    if not logs:
        raise FileNotFoundError(f"no decisions in {compare_dir / 'review'}; run `qilin data review` first")
    return {name: load_preferences(path) for name, path in logs.items()}


def majority(rows: list[dict[str, Any]]) -> str | None:
    """The outcome more than half of `rows` name, or None."""
    votes = Counter(outcome(r) for r in rows)
    best, n = votes.most_common(1)[0]
    return best if n * 2 > len(rows) else None


def apply_preferences(
    compare_dir: str | Path, out_path: str | Path, reviewers: list[str] | None = None
) -> dict[str, Any]:
    """Write DPO pairs ({prompt, chosen, rejected}, `qilin data check --kind dpo` reads them) to `out_path`."""
    compare_dir, out_path = Path(compare_dir), Path(out_path)
    decisions = _decisions(compare_dir, reviewers)
    _, items = read_comparison(compare_dir)
    pairs, counts = [], Counter()
    for item in items:
        rows = [d[item["id"]] for d in decisions.values() if item["id"] in d]
        if not rows:
            counts["undecided"] += 1
            continue
        best = majority(rows)
        if best is None:
            counts["no_majority"] += 1
            continue
        if best == "tie":
            counts["tie"] += 1
            continue
        edits = sorted((r for r in rows if outcome(r) == best and r.get("edited")), key=lambda r: r["time"])
        chosen, rejected = (edits[-1]["edited"] if edits else item[best]), item[other(best)]
        if not chosen.strip() or not rejected.strip() or chosen.strip() == rejected.strip():
            counts["unusable"] += 1  # DPO learns nothing from an empty side or two equal texts
            continue
        counts["edited"] += bool(edits)
        votes = Counter(outcome(r) for r in rows)
        pairs.append(
            {
                "id": item["id"],
                "prompt": item["prompt"],
                "chosen": chosen,
                "rejected": rejected,
                "chosen_answer": best,
                "edited": bool(edits),
                "votes": {k: votes[k] for k in OUTCOMES},
            }
        )
    write_atomic(out_path, "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    return {
        "reviewers": sorted(decisions),
        "items": len(items),
        "pairs": len(pairs),
        "edited": counts["edited"],
        "ties_dropped": counts["tie"],
        "no_majority_dropped": counts["no_majority"],
        "unusable_dropped": counts["unusable"],
        "undecided": counts["undecided"],
        "chosen": dict(Counter(p["chosen_answer"] for p in pairs)),
        "out": str(out_path),
    }


def reviewer_summary(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One reviewer's decisions: A/B/tie counts, edits, and how often the left answer won (position bias)."""
    outcomes = Counter(outcome(r) for r in rows.values())
    picks = [r["better"] for r in rows.values() if r["better"] != "tie"]
    return {
        "decided": len(rows),
        **{k: outcomes[k] for k in OUTCOMES},
        "edited": sum(bool(r.get("edited")) for r in rows.values()),
        "left_picked_percent": 100 * picks.count("left") / len(picks) if picks else None,
    }


def preference_stats(compare_dir: str | Path) -> dict[str, Any]:
    """Per reviewer counts and agreement with the others; per pair percent agreement and Cohen's kappa on A/B/tie.

    Written to review/agreement.json.
    """
    compare_dir = Path(compare_dir)
    decisions = _decisions(compare_dir, None)
    mapped = {
        name: {i: {"decision": outcome(r)} for i, r in rows.items()} for name, rows in decisions.items()
    }  # what agreement() compares: the outcome on A/B, never the side
    pairs = [
        {"reviewers": [x, y], **agreement(mapped[x], mapped[y], OUTCOMES)}
        for x, y in itertools.combinations(sorted(mapped), 2)
    ]
    reviewers = {}
    for name, rows in decisions.items():
        mine = [p for p in pairs if name in p["reviewers"] and p["items"]]
        shared = sum(p["items"] for p in mine)
        agreed = sum(p["items"] * p["percent_agreement"] / 100 for p in mine)
        reviewers[name] = {
            **reviewer_summary(rows),
            "shared_items": shared,
            "agreement_with_others_percent": 100 * agreed / shared if shared else None,
        }
    against = {label: Counter() for label in LABELS}  # tags on the losing answer, per answer
    for rows in decisions.values():
        for r in rows.values():
            if (won := outcome(r)) != "tie":
                against[other(won)].update(r["reasons"])
    stats = {
        "reviewers": reviewers,
        "pairs": pairs,
        "reasons_against": {label: dict(sorted(c.items())) for label, c in against.items()},
    }
    write_atomic(compare_dir / "review" / "agreement.json", json.dumps(stats, indent=1) + "\n")
    return stats
