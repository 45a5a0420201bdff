"""Build notes.jsonl and medical_strings.txt from the hand-written markup in notes_source.txt, checking every mark.

python benchmarks/heldout/deid/build_notes.py          # rewrites notes.jsonl and medical_strings.txt beside it
python benchmarks/heldout/deid/build_notes.py DIR      # the same for DIR/notes_source.txt (benchmarks/heldout/deid2)

Markup of notes_source.txt:
    ## n001 admission zh              a record: id, style, language; its body runs to the next "## " line
    ----                              alone on a line: the next field of the record (the next turn of a chat)
    {{name:P1|王小明}}                 a PHI span: type, for names the person id, then the value as written
    {{phone|138 1234 5678}}
    [[血压130/80mmHg]]                 a medical string that must survive de-identification (to medical_strings.txt)
    // a comment line                 ignored
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TYPES = ("name", "id", "phone", "address", "date", "record", "card", "plate", "email", "url", "ip", "ssn")
TYPES += ("account", "org")
STYLES = ("admission", "progress", "discharge", "outpatient", "nursing", "surgery", "consent", "chat", "en_discharge")
# styles of the second set (deid2) that the first did not have
STYLES += ("report", "prescription", "insurance", "referral", "en_letter")
# styles of the third set (deid3): EMR exports pasted as text, triage sheets, English SOAP notes, dictation, OCR of
# scanned pages, certificates, follow-up calls, mental-health notes, trial forms, complaints, English ED/nursing notes
STYLES += ("export", "triage", "en_soap", "dictation", "ocr", "certificate", "followup", "mental", "trial")
STYLES += ("complaint", "en_note")
# styles of the fourth set (deid4): specialties, public-health and legal documents, transcripts, posts and mail,
# machine exports (FHIR, DICOM headers, logs), rosters, research forms, published case reports
STYLES += ("obstetric", "pediatric", "tcm", "dental", "rehab", "mdt", "public_health", "checkup", "forensic")
STYLES += ("judgment", "casereport", "transcript", "forum", "email", "roster", "crowdfunding", "research", "log")
STYLES += ("en_hp", "en_op", "en_report", "en_message")
# styles of the fifth set (deid5): primary and public care, emergency dispatch, billing and certificates, and text
# published or broadcast about patients (news, articles, video subtitles, reviews, hotline complaints, abstracts)
STYLES += ("primary_care", "dispatch", "billing", "sick_note", "pharmacy", "news", "article", "subtitle", "review")
STYLES += ("hotline", "abstract", "exam_item", "office_chat", "spreadsheet", "en_ems", "en_instructions", "en_news")
# styles of the sixth set (deid6): specialty centres and system templates, and patient-made, translated and
# social text (voice messages, family chats, blogs, teaching cases, transliterated foreign names)
STYLES += ("icu", "dialysis", "reproductive", "oncology", "psychiatry", "handover", "voice", "family_chat", "blog")
STYLES += ("teaching", "translation", "social", "en_handover", "en_nursing", "en_social")
_MARK = re.compile(r"\{\{([a-z]+)(?::(P\d+))?\|([^{}|]+)\}\}|\[\[([^\[\]]+)\]\]")


_TO_HALF = str.maketrans("０１２３４５６７８９Ｘ", "0123456789X")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643-1999: real ids carry a valid check


def id_check(body: str) -> str:
    """The check character of a resident id's first 17 digits."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


class MarkupError(ValueError):
    """A bad mark in the source: names the line and what was expected."""


def parse_field(raw: str, where: str) -> tuple[str, list[dict], list[str]]:
    """The plain text of one field, its PHI spans and the medical strings marked in it."""
    out, spans, medical, pos = [], [], [], 0
    for m in _MARK.finditer(raw):
        out.append(raw[pos : m.start()])
        start = sum(len(p) for p in out)
        kind, person, value, med = m.groups()
        if med is not None:
            out.append(med)
            medical.append(med)
        else:
            if kind not in TYPES:
                raise MarkupError(f"{where}: unknown type {kind!r} in {m.group(0)!r}")
            if (kind == "name") != (person is not None):
                raise MarkupError(f"{where}: a name needs a person id and only a name has one: {m.group(0)!r}")
            if value != value.strip():
                raise MarkupError(f"{where}: value with surrounding spaces: {m.group(0)!r}")
            out.append(value)
            span = {"type": kind, "start": start, "end": start + len(value), "value": value}
            if person:
                span["person"] = person
            spans.append(span)
        pos = m.end()
    out.append(raw[pos:])
    text = "".join(out)
    for stray in ("{{", "}}", "[[", "]]"):
        if stray in text:
            raise MarkupError(f"{where}: unclosed or malformed mark ({stray!r}) in {text[:60]!r}")
    for s in spans:
        assert text[s["start"] : s["end"]] == s["value"]
    return text, spans, medical


def parse_source(source: str) -> tuple[list[dict], list[str]]:
    """Records and the ordered, distinct medical strings of the markup."""
    records, medical, current, body = [], {}, None, []

    def close() -> None:
        if current is None:
            return
        fields = "\n".join(body).split("\n----\n")
        texts, spans = [], []
        for i, raw in enumerate(fields):
            text, field_spans, field_medical = parse_field(raw.strip("\n"), f"record {current['id']} field {i}")
            if not text.strip():
                raise MarkupError(f"record {current['id']}: field {i} is empty")
            texts.append(text)
            spans.append(field_spans)
            medical.update(dict.fromkeys(field_medical))
        records.append({**current, "texts": texts, "spans": spans})

    for n, line in enumerate(source.splitlines(), 1):
        if line.startswith("//"):
            continue
        if line.startswith("## "):
            close()
            parts = line[3:].split()
            if len(parts) != 3 or parts[1] not in STYLES or parts[2] not in ("zh", "en"):
                raise MarkupError(f"line {n}: expected '## ID STYLE zh|en' with STYLE in {STYLES}, got {line!r}")
            current, body = {"id": parts[0], "style": parts[1], "lang": parts[2]}, []
        elif current is not None:
            body.append(line)
        elif line.strip():
            raise MarkupError(f"line {n}: text before the first record header")
    close()
    return records, list(medical)


def check(records: list[dict], medical: list[str]) -> None:
    """Ids unique; resident ids valid; no medical string overlaps a PHI span in any note."""
    ids = [r["id"] for r in records]
    if len(ids) != len(set(ids)):
        raise MarkupError(f"duplicate record ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    for r in records:
        for text, spans in zip(r["texts"], r["spans"], strict=True):
            for s in spans:
                digits = s["value"].translate(_TO_HALF)
                if s["type"] == "id" and len(digits) == 18 and id_check(digits[:17]) != digits[17]:
                    raise MarkupError(f"record {r['id']}: resident id {s['value']} fails its check character")
            for value in medical:  # str.find, not re: thousands of patterns would overflow re's compile cache
                at = text.find(value)
                while at != -1:
                    hit = [s for s in spans if s["start"] < at + len(value) and at < s["end"]]
                    if hit:
                        raise MarkupError(f"record {r['id']}: medical string {value!r} overlaps PHI {hit[0]}")
                    at = text.find(value, at + 1)


def build(directory: Path) -> tuple[list[dict], list[str]]:
    """Parse and check directory/notes_source.txt, write notes.jsonl and medical_strings.txt beside it."""
    records, medical = parse_source((directory / "notes_source.txt").read_text(encoding="utf-8"))
    check(records, medical)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (directory / "notes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / "medical_strings.txt").write_text("\n".join(medical) + "\n", encoding="utf-8")
    return records, medical


def main() -> None:
    """Build the set in the directory named on the command line (this one by default) and print its counts."""
    directory = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE
    try:
        records, medical = build(directory)
    except MarkupError as err:
        sys.exit(f"{directory / 'notes_source.txt'}: {err}")
    counts: dict[str, int] = {}
    for r in records:
        for spans in r["spans"]:
            for s in spans:
                counts[s["type"]] = counts.get(s["type"], 0) + 1
    styles: dict[str, int] = {}
    for r in records:
        styles[r["style"]] = styles.get(r["style"], 0) + 1
    langs: dict[str, int] = {}
    for r in records:
        langs[r["lang"]] = langs.get(r["lang"], 0) + 1
    texts = sum(len(r["texts"]) for r in records)
    persons = sum(len({s["person"] for f in r["spans"] for s in f if "person" in s}) for r in records)
    sys.stdout.write(
        f"{len(records)} records {langs}, {texts} texts, {persons} persons, {len(medical)} medical strings\n"
        f"styles {styles}\ntypes {counts}\n"
    )


if __name__ == "__main__":
    main()
