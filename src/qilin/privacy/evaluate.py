"""Score the detector on a labelled PHI set: per-type precision and recall, medical strings altered, persons split.

    scores = evaluate_file(EVAL_DIR / "heldout.jsonl")    # {"types": {"phone": {"recall": 1.0, ...}}, ...}
    scores = evaluate_file(notes, medical=read_medical_strings(strings))   # the hand-written notes

Two record formats are read. The single-text one: {"text": "...", "spans": [{type, start, end, value}],
"protected": ["..."]}. The multi-field one (a note, or a chat log with one text per turn), de-identified as one
record the way `qilin data deid` does it: {"texts": ["...", "..."], "spans": [[{type, start, end, value,
"person": "P1"}], [...]]}, where `spans[i]` belong to `texts[i]` and every name carries the id of its person.

A labelled value counts as found when predicted spans (of any type: masked is masked) cover every one of its
characters; a predicted span is correct when it overlaps a labelled value. A medical string is altered in a
record when the de-identified texts hold fewer copies of it than the originals. A person is split when the
mentions masked get more than one placeholder, and two persons are merged when they share one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from qilin.data.records import DataError, iter_json_records, require_field
from qilin.privacy.record import deid_texts
from qilin.privacy.spans import TYPES, Span, is_placeholder

EVAL_DIR = Path(__file__).resolve().parents[1] / "resources" / "deid"
# The types a released record must never keep: a miss here identifies a patient directly.
IDENTIFIERS = ("id", "phone", "record", "card", "email", "url", "ip", "ssn", "account", "plate", "address")
_BRACKETED = re.compile(r"\[[^\[\]\s]{1,16}\]")
_CONTEXT = 12  # characters shown either side of a miss or a false alarm


def _check_spans(text: str, spans: Any, field: str, need_person: bool) -> None:
    """Raise a ValueError naming `field` unless `spans` is a list of valid spans of `text`."""
    if not isinstance(spans, list):
        raise ValueError(f"field '{field}': expected a list of spans, got {type(spans).__name__}")
    for i, span in enumerate(spans):
        where = f"{field}[{i}]"
        if not isinstance(span, dict):
            raise ValueError(f"field '{where}': expected an object, got {type(span).__name__}")
        if span.get("type") not in TYPES:
            raise ValueError(f"field '{where}.type': {span.get('type')!r} is not one of {', '.join(TYPES)}")
        for key in ("start", "end"):
            if not isinstance(span.get(key), int):
                raise ValueError(f"field '{where}.{key}': expected an integer offset, got {span.get(key)!r}")
        if not isinstance(span.get("value"), str) or text[span["start"] : span["end"]] != span["value"]:
            raise ValueError(f"field '{where}': text[start:end] is not its value {span.get('value')!r}")
        if need_person and span["type"] == "name" and not isinstance(span.get("person"), str):
            raise ValueError(f"field '{where}.person': a name needs the id of its person (\"P1\")")


def _normalise(obj: Any, need_person: bool = True) -> dict[str, Any]:
    """One record in the multi-field form, checked; the single-text form is read as a record of one field."""
    if isinstance(obj, dict) and "texts" in obj:
        texts = require_field(obj, "texts", list)
        spans = require_field(obj, "spans", list)
        if len(spans) != len(texts):
            raise ValueError(f"field 'spans': {len(spans)} lists for {len(texts)} texts (one list a text)")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                raise ValueError(f"field 'texts[{i}]': expected a non-empty string")
            _check_spans(text, spans[i], f"spans[{i}]", need_person)
        return {**obj, "protected": obj.get("protected", [])}
    text = require_field(obj, "text")
    spans = obj.get("spans", [])
    _check_spans(text, spans, "spans", need_person=False)
    return {**obj, "texts": [text], "spans": [spans], "protected": obj.get("protected", [])}


_MARK = re.compile(r"\{([a-z]+)(?:#(\w+))?:([^{}]+)\}|<<([^<>]+)>>")


def parse_marked(note: str, note_id: str = "") -> dict[str, Any]:
    """A labelled record from a note marked up by hand: {name:王小明} is a PHI span, <<高血压>> a protected value.

    {name#P1:王小明} also names the person, so that the scorer checks one placeholder per person.
    """
    text, spans, protected, pos = [], [], [], 0
    length = 0
    for m in _MARK.finditer(note):
        text.append(note[pos : m.start()])
        length += m.start() - pos
        kind, person, value = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (None, None, m.group(4))
        if kind is not None:
            if kind not in TYPES:
                raise ValueError(f"note {note_id!r}: {kind!r} is not one of {', '.join(TYPES)}")
            span = {"type": kind, "start": length, "end": length + len(value), "value": value}
            spans.append({**span, "person": person} if person else span)
        else:
            protected.append(value)
        text.append(value)
        length += len(value)
        pos = m.end()
    text.append(note[pos:])
    return {"id": note_id, "text": "".join(text), "spans": spans, "protected": protected}


def read_labelled(path: Path) -> list[dict[str, Any]]:
    """Records of a labelled set in either format, checked, as {"texts": [...], "spans": [[...]], ...}."""
    rows = []
    for where, obj in iter_json_records(path):
        if isinstance(obj, DataError):
            raise obj
        try:
            rows.append(_normalise(obj))
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(path, where, str(e)) from None
    return rows


def read_medical_strings(path: Path) -> list[str]:
    """The medical strings of a list file, one a line (blank lines skipped), each once."""
    return list(dict.fromkeys(line for line in Path(path).read_text(encoding="utf-8-sig").splitlines() if line.strip()))


def placeholders_of(text: str, spans: list[Span], masked: str) -> list[str]:
    """The placeholder that replaced each span in `masked`, found by walking the text between the spans."""
    out, pos, mpos = [], 0, 0
    for span in spans:
        between = text[pos : span.start]
        m = _BRACKETED.match(masked, mpos + len(between)) if masked.startswith(between, mpos) else None
        if m is None or not is_placeholder(m.group(0)):
            raise ValueError(f"de-identified text does not line up with its spans at {span}: {masked!r}")
        out.append(m.group(0))
        pos, mpos = span.end, m.end()
    if masked[mpos:] != text[pos:]:
        raise ValueError(f"de-identified text does not end like its original: {masked!r}")
    return out


def _overlaps(span: Span, gold: dict[str, Any]) -> bool:
    return span.start < gold["end"] and gold["start"] < span.end


def _context(text: str, start: int, end: int) -> str:
    return f"{text[max(0, start - _CONTEXT) : start]}⟦{text[start:end]}⟧{text[end : end + _CONTEXT]}"


def _person_violations(row_id: Any, mentions: dict[str, list[tuple[str, set[str]]]]) -> list[dict[str, Any]]:
    """Split persons (more than one placeholder) and merged pairs (a placeholder shared by two persons)."""
    found, out = {}, []
    for person, seen in mentions.items():
        placeholders = set().union(*(p for _, p in seen))
        if placeholders:
            found[person] = placeholders
        if len(placeholders) > 1:
            values = sorted({v for v, _ in seen})
            out.append({"id": row_id, "kind": "split", "persons": [person], "placeholders": sorted(placeholders),
                        "values": values})  # fmt: skip
    people = sorted(found)
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            shared = found[a] & found[b]
            if shared:
                values = sorted({v for p in (a, b) for v, _ in mentions[p]})
                out.append({"id": row_id, "kind": "merged", "persons": [a, b], "placeholders": sorted(shared),
                            "values": values})  # fmt: skip
    return out


def evaluate_records(rows: list[dict[str, Any]], medical: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Per-type and pooled precision and recall, medical strings altered, person consistency, and every miss."""
    rows = [_normalise(r, need_person=False) for r in rows]  # read_labelled has checked the persons of a file
    found = {t: [0, 0] for t in TYPES}  # labelled: [found, total]
    predicted = {t: [0, 0] for t in TYPES}  # predicted: [correct, total]
    altered, protected, misses, false_alarms, alterations, violations = 0, 0, [], [], [], []
    persons, medical_checked = 0, 0
    for row in rows:
        rid, texts = row.get("id"), row["texts"]
        masked, predicted_spans = deid_texts(texts)
        mentions: dict[str, list[tuple[str, set[str]]]] = {}
        fields = zip(texts, masked, predicted_spans, row["spans"], strict=True)
        for field, (text, out, spans, gold_spans) in enumerate(fields):
            placeholders = placeholders_of(text, spans, out)
            covered = {i for s in spans for i in range(s.start, s.end)}
            for gold in gold_spans:
                over = {p for s, p in zip(spans, placeholders, strict=True) if _overlaps(s, gold)}
                hit = all(i in covered for i in range(gold["start"], gold["end"]))
                found[gold["type"]][0] += hit
                found[gold["type"]][1] += 1
                if not hit:
                    misses.append({"id": rid, "field": field, "type": gold["type"], "value": gold["value"],
                                   "context": _context(text, gold["start"], gold["end"])})  # fmt: skip
                if gold["type"] == "name" and "person" in gold:
                    mentions.setdefault(gold["person"], []).append((gold["value"], over))
            for s in spans:
                ok = any(_overlaps(s, g) for g in gold_spans)
                predicted[s.type][0] += ok
                predicted[s.type][1] += 1
                if not ok:
                    false_alarms.append({"id": rid, "field": field, "type": s.type, "value": s.value,
                                         "context": _context(text, s.start, s.end)})  # fmt: skip
        persons += len(mentions)
        violations += _person_violations(rid, mentions)
        for value in row["protected"]:
            protected += 1
            altered += sum(t.count(value) for t in masked) < sum(t.count(value) for t in texts)
        for value in medical:
            before = sum(t.count(value) for t in texts)
            if before:
                medical_checked += 1
                after = sum(t.count(value) for t in masked)
                if after < before:
                    alterations.append({"id": rid, "string": value, "before": before, "after": after})
    return {
        "records": len(rows),
        "types": {t: _rates(found[t], predicted[t]) for t in TYPES},
        "names_recall": _ratio(*found["name"]),
        "identifiers_recall": _ratio(sum(found[t][0] for t in IDENTIFIERS), sum(found[t][1] for t in IDENTIFIERS)),
        "precision": _ratio(sum(c for c, _ in predicted.values()), sum(n for _, n in predicted.values())),
        "protected": protected,
        "protected_altered": altered / protected if protected else 0.0,
        "medical_checked": medical_checked,
        "medical_altered": len(alterations),
        "alterations": alterations,
        "persons": persons,
        "person_violations": violations,
        "misses": misses,
        "false_alarms": false_alarms,
    }


def _ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _rates(found: list[int], predicted: list[int]) -> dict[str, Any]:
    return {"labelled": found[1], "recall": _ratio(*found), "predicted": predicted[1], "precision": _ratio(*predicted)}


def evaluate_file(path: Path, medical: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """`evaluate_records` on a labelled JSONL file (and the medical strings checked in every record)."""
    return evaluate_records(read_labelled(Path(path)), medical)


def _fmt(x: float | None) -> str:
    return f"{x:.3f}" if x is not None else "-"


def format_scores(scores: dict[str, Any]) -> str:
    """The per-type table and the pooled figures a person reads."""
    lines = [f"{'type':<9} {'labelled':>8} {'recall':>7} {'predicted':>9} {'precision':>9}"]
    for t, s in scores["types"].items():
        lines.append(f"{t:<9} {s['labelled']:>8} {_fmt(s['recall']):>7} {s['predicted']:>9} {_fmt(s['precision']):>9}")
    lines.append(f"names recall: {_fmt(scores['names_recall'])}")
    lines.append(f"identifiers and contacts recall: {_fmt(scores['identifiers_recall'])}")
    lines.append(f"overall precision: {_fmt(scores['precision'])}")
    if scores["protected"]:
        lines.append(f"protected medical values altered: {scores['protected_altered']:.2%} of {scores['protected']}")
    if scores["medical_checked"]:
        altered, checked = scores["medical_altered"], scores["medical_checked"]
        lines.append(f"medical strings altered: {altered} of {checked} (record, string) pairs present")
    if scores["persons"]:
        n = len(scores["person_violations"])
        lines.append(f"person consistency: {n} violations over {scores['persons']} persons")
    return "\n".join(lines)


def dump_misses(scores: dict[str, Any]) -> str:
    """Misses, false alarms, medical alterations and person violations, one JSON line each."""
    rows = [{"miss": m} for m in scores["misses"]] + [{"false_alarm": f} for f in scores["false_alarms"]]
    rows += [{"altered": a} for a in scores["alterations"]] + [{"person": v} for v in scores["person_violations"]]
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
