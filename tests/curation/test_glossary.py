"""The translation glossary: whole terms, longest first, contradictions refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.curation.glossary import Glossary, load_glossary
from qilin.data.records import DataError


def test_glossary_matches_whole_terms_longest_first(tmp_path: Path) -> None:
    glossary = Glossary({"stroke": "卒中", "heat stroke": "中暑", "MS": "多发性硬化", "CT": "CT"})
    assert glossary.terms_in("Heat stroke in a runner; CT at 20 ms.") == {"CT": "CT", "heat stroke": "中暑"}
    assert glossary.terms_in("Stroke with MS.") == {"MS": "多发性硬化", "stroke": "卒中"}
    csv_path = tmp_path / "terms.csv"
    csv_path.write_text("en,zh\nmyocardial infarction,心肌梗死\nBRCA1,BRCA1基因\n", encoding="utf-8")
    loaded = load_glossary(csv_path)
    assert loaded.terms == {"myocardial infarction": "心肌梗死", "BRCA1": "BRCA1基因"}
    assert loaded.latin_words() == {"brca1"}
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps([{"en": "stroke", "zh": "卒中"}, {"en": "Stroke", "zh": "中风"}], ensure_ascii=False))
    with pytest.raises(DataError, match=r"clash\.json:record 2: 'Stroke' -> '中风' contradicts 'stroke' -> '卒中'"):
        load_glossary(clash)
