"""The raw records of a benchmark file, each with the line it starts on, and the checks every layout shares.

    raw = load_raw(Path("cmb_val.json"))     # RawFile(kind="list", records=[("line 2", None, {...}), ...])
    text = required(obj, "question", raw.path, where)   # the value, or DataError naming file, line and field

Published layouts arrive as CSV, a JSON list (CMB), a JSON object keyed by id (PubMedQA) or JSON lines
(MedQA; MedMCQA's .json files are JSON lines too), so one loader reads all four and remembers which it was.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qilin.data.records import DataError, require_field

_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class RawFile:
    """A file's records as (location, key in a keyed object or None, record), and its CSV header."""

    path: Path
    kind: str  # "csv", "list", "keyed" or "lines"
    records: list[tuple[str, str | None, Any]]
    header: list[str] = field(default_factory=list)

    def fields(self) -> set[str]:
        """The fields of the first record (the CSV header for a CSV)."""
        if self.kind == "csv":
            return set(self.header)
        first = self.records[0][2] if self.records else None
        return set(first) if isinstance(first, dict) else set()


def load_raw(path: Path) -> RawFile:
    """Read a CSV, JSON list, keyed JSON object or JSON-lines file; a syntax error names its line."""
    if not path.is_file():
        raise DataError(path, "", "file not found")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines(keepends=True))
        rows = [(f"line {reader.line_num}", None, row) for row in reader]
        return RawFile(path, "csv", rows, list(reader.fieldnames or []))
    start = len(text) - len(text.lstrip())
    if text[start : start + 1] in ("[", "{"):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as e:
            if text[start] == "[" or e.lineno == 1:  # a broken list, or a broken first line of JSON lines
                raise DataError(path, f"line {e.lineno}", f"not valid JSON: {e.msg}") from None
            whole = None  # JSON lines
        if isinstance(whole, list):
            return RawFile(path, "list", _located_items(text, start, whole, keyed=False))
        if isinstance(whole, dict) and whole and all(isinstance(v, dict) for v in whole.values()):
            return RawFile(path, "keyed", _located_items(text, start, whole, keyed=True))
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append((f"line {lineno}", None, json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(path, f"line {lineno}", f"not valid JSON: {e.msg}") from None
    return RawFile(path, "lines", records)


def _located_items(text: str, start: int, whole: Any, keyed: bool) -> list[tuple[str, str | None, Any]]:
    """Each item of a parsed top-level list or object with the line its value starts on (decoded once more)."""
    decoder = json.JSONDecoder()
    out = []
    pos = start + 1
    for _ in range(len(whole)):
        while text[pos] in " \t\r\n,":
            pos += 1
        key = None
        if keyed:
            key, pos = decoder.raw_decode(text, pos)
            while text[pos] in " \t\r\n:":
                pos += 1
        line = text.count("\n", 0, pos) + 1
        obj, pos = decoder.raw_decode(text, pos)
        out.append((f"line {line}" + (f" (id {key})" if keyed else ""), key, obj))
    return out


def required(record: Any, name: str, path: Path, where: str, expected: type | tuple[type, ...] = str) -> Any:
    """`record[name]`, or a DataError naming the file, the record's line and the field."""
    try:
        value = require_field(record, name, expected)
    except ValueError as e:
        raise DataError(path, where, str(e)) from None
    return value.strip() if isinstance(value, str) else value


def checked_answer(letters: str, options: dict[str, str], path: Path, where: str, name: str) -> frozenset[str]:
    """The answer letters as a set, refused unless every one names an option."""
    answer = frozenset(c.upper() for c in letters if c.isalpha())
    if not answer or not answer <= set(options):
        raise DataError(path, where, f"field '{name}': {letters!r} is not a set of option letters {''.join(options)}")
    return answer


def language_of(text: str) -> str:
    """'zh' for a question with Chinese characters, else 'en' (MedQA holds both in one layout)."""
    return "zh" if _CJK.search(text) else "en"
