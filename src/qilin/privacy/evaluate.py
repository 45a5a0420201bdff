"""Score the detector on a labelled PHI set: per-type precision and recall, and the protected values it altered.

    scores = evaluate_file(EVAL_DIR / "heldout.jsonl")    # {"types": {"phone": {"recall": 1.0, ...}}, ...}

A labelled value counts as found when predicted spans (of any type: masked is masked) cover every one of its
characters; a predicted span is correct when it overlaps a labelled value. A protected medical value is altered
when the de-identified text holds fewer copies of it than the original.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from qilin.data.records import DataError, iter_json_records, require_field
from qilin.privacy.record import deid_texts
from qilin.privacy.spans import TYPES

EVAL_DIR = Path(__file__).resolve().parents[1] / "resources" / "deid"


_MARK = re.compile(r"\{(\w+):([^{}]+)\}|<<([^<>]+)>>")


def parse_marked(note: str, note_id: str = "") -> dict[str, Any]:
    """A labelled record from a note marked up by hand: {name:王小明} is a PHI span, <<高血压>> a protected value."""
    text, spans, protected, pos = [], [], [], 0
    length = 0
    for m in _MARK.finditer(note):
        text.append(note[pos : m.start()])
        length += m.start() - pos
        kind, value = (m.group(1), m.group(2)) if m.group(1) else (None, m.group(3))
        if kind is not None:
            if kind not in TYPES:
                raise ValueError(f"note {note_id!r}: {kind!r} is not one of {', '.join(TYPES)}")
            spans.append({"type": kind, "start": length, "end": length + len(value), "value": value})
        else:
            protected.append(value)
        text.append(value)
        length += len(value)
        pos = m.end()
    text.append(note[pos:])
    return {"id": note_id, "text": "".join(text), "spans": spans, "protected": protected}


def read_labelled(path: Path) -> list[dict[str, Any]]:
    """Records of a labelled set, each checked: text, spans (type, start, end matching the value), protected."""
    rows = []
    for where, obj in iter_json_records(path):
        if isinstance(obj, DataError):
            raise obj
        try:
            text = require_field(obj, "text")
            for i, span in enumerate(obj.get("spans", [])):
                if span.get("type") not in TYPES:
                    raise ValueError(f"field 'spans[{i}].type': {span.get('type')!r} is not one of {', '.join(TYPES)}")
                if text[span["start"] : span["end"]] != span["value"]:
                    raise ValueError(f"field 'spans[{i}]': text[start:end] is not its value {span['value']!r}")
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(path, where, str(e)) from None
        rows.append(obj)
    return rows


def evaluate_records(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-type counts, precision and recall, the protected values altered, and the misses (for tuning)."""
    found = {t: [0, 0] for t in TYPES}  # labelled: [found, total]
    predicted = {t: [0, 0] for t in TYPES}  # predicted: [correct, total]
    altered, protected, misses, false_alarms = 0, 0, [], []
    for row in rows:
        text = row["text"]
        (masked,), (spans,) = deid_texts([text])
        covered = set()
        for s in spans:
            covered.update(range(s.start, s.end))
        for gold in row["spans"]:
            hit = all(i in covered for i in range(gold["start"], gold["end"]))
            found[gold["type"]][0] += hit
            found[gold["type"]][1] += 1
            if not hit:
                misses.append({"id": row.get("id"), "type": gold["type"], "value": gold["value"]})
        for s in spans:
            ok = any(s.start < g["end"] and g["start"] < s.end for g in row["spans"])
            predicted[s.type][0] += ok
            predicted[s.type][1] += 1
            if not ok:
                false_alarms.append({"id": row.get("id"), "type": s.type, "value": s.value})
        for value in row.get("protected", []):
            protected += 1
            altered += masked.count(value) < text.count(value)
    types = {
        t: {
            "labelled": found[t][1],
            "recall": found[t][0] / found[t][1] if found[t][1] else None,
            "predicted": predicted[t][1],
            "precision": predicted[t][0] / predicted[t][1] if predicted[t][1] else None,
        }
        for t in TYPES
    }
    return {
        "records": len(rows),
        "types": types,
        "protected": protected,
        "protected_altered": altered / protected if protected else 0.0,
        "misses": misses,
        "false_alarms": false_alarms,
    }


def evaluate_file(path: Path) -> dict[str, Any]:
    """`evaluate_records` on a labelled JSONL file."""
    return evaluate_records(read_labelled(Path(path)))


def format_scores(scores: dict[str, Any]) -> str:
    """The per-type table a person reads."""
    lines = [f"{'type':<9} {'labelled':>8} {'recall':>7} {'predicted':>9} {'precision':>9}"]
    for t, s in scores["types"].items():
        recall = f"{s['recall']:.3f}" if s["recall"] is not None else "-"
        precision = f"{s['precision']:.3f}" if s["precision"] is not None else "-"
        lines.append(f"{t:<9} {s['labelled']:>8} {recall:>7} {s['predicted']:>9} {precision:>9}")
    lines.append(f"protected medical values altered: {scores['protected_altered']:.2%} of {scores['protected']}")
    return "\n".join(lines)


def dump_misses(scores: dict[str, Any]) -> str:
    """Misses and false alarms, one JSON line each (what to look at when tuning on the dev half)."""
    rows = [{"miss": m} for m in scores["misses"]] + [{"false_alarm": f} for f in scores["false_alarms"]]
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
