"""A medical glossary: English terms that must translate one fixed way, and finding them in a text.

glossary.json: {"myocardial infarction": "心肌梗死", "CT": "CT", "BRCA1": "BRCA1基因"}  (or [{"en": .., "zh": ..}])
glossary.csv:  en,zh  then one term a line (a file without that header: the first two columns)
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from qilin.data.records import DataError

_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")


class Glossary:
    """English -> Chinese terms; `terms_in` finds the ones a text uses."""

    def __init__(self, terms: dict[str, str]):
        self.terms = dict(terms)
        self._by_lower = {en.lower(): en for en in self.terms}
        # Longest first, so "heat stroke" wins over "stroke" at the same place and "stroke" (卒中) is not
        # demanded in a text that only speaks of heat stroke (中暑).
        ordered = sorted(self.terms, key=len, reverse=True)
        alternation = "|".join(re.escape(t) for t in ordered)
        self._pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternation})(?![A-Za-z0-9])", re.I) if ordered else None

    def __len__(self) -> int:
        return len(self.terms)

    def terms_in(self, text: str) -> dict[str, str]:
        """The glossary entries whose English term occurs in `text` (whole words), sorted by term."""
        if self._pattern is None:
            return {}
        found = {}
        for match in self._pattern.finditer(text):
            term = self._by_lower[match.group(0).lower()]
            # An all-capitals term is an abbreviation: "MS" (multiple sclerosis) must not match "ms" (milliseconds).
            if term.isupper() and match.group(0) != term:
                continue
            found[term] = self.terms[term]
        return dict(sorted(found.items()))

    def latin_words(self) -> set[str]:
        """Latin-script words the fixed translations themselves contain (gene names, CT): allowed in Chinese text."""
        return {w.lower() for zh in self.terms.values() for w in _LATIN_WORD.findall(zh)}


def load_glossary(path: str | Path | None) -> Glossary:
    """A glossary from JSON or CSV (see the module docstring); an empty one when `path` is None."""
    if path is None:
        return Glossary({})
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "", "glossary file not found")
    pairs: list[tuple[str, object, object]] = []
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as e:
            raise DataError(path, f"line {e.lineno}", f"not valid JSON: {e.msg}") from None
        if isinstance(data, dict):
            pairs = [(f"key {en!r}", en, zh) for en, zh in data.items()]
        elif isinstance(data, list):
            for i, entry in enumerate(data, 1):
                if not isinstance(entry, dict) or "en" not in entry or "zh" not in entry:
                    raise DataError(path, f"record {i}", 'expected {"en": ENGLISH, "zh": CHINESE}')
                pairs.append((f"record {i}", entry["en"], entry["zh"]))
        else:
            raise DataError(path, "", 'expected {"english": "中文", ...} or a list of {"en", "zh"}')
    elif path.suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t" if path.suffix == ".tsv" else ","))
        start = 1 if rows and [c.strip().lower() for c in rows[0][:2]] == ["en", "zh"] else 0
        for lineno, row in enumerate(rows[start:], start + 1):
            if not any(c.strip() for c in row):
                continue
            if len(row) < 2:
                raise DataError(path, f"line {lineno}", "expected two columns: English term, Chinese term")
            pairs.append((f"line {lineno}", row[0], row[1]))
    else:
        raise DataError(path, "", f"unsupported glossary type {path.suffix!r}; expected .json, .csv or .tsv")
    terms: dict[str, str] = {}
    first: dict[str, str] = {}  # lower-cased term -> the spelling first given
    for where, en, zh in pairs:
        if not isinstance(en, str) or not isinstance(zh, str) or not en.strip() or not zh.strip():
            raise DataError(path, where, "English and Chinese terms must be non-empty strings")
        en, zh = en.strip(), zh.strip()
        clash = first.setdefault(en.lower(), en)
        if terms.get(clash, zh) != zh:
            raise DataError(path, where, f"{en!r} -> {zh!r} contradicts {clash!r} -> {terms[clash]!r}")
        terms[en] = zh
    return Glossary(terms)
