"""ChiMed-VL source readers: each format detected and read into segments; bad records named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.config import ConfigError
from qilin.curation.sources import conversation_turns, parse_fields, read_source
from qilin.data.records import DataError

from ..conftest import write_jsonl
from .conftest import captions


def test_each_source_format_is_detected_and_read_into_segments(tmp_path: Path) -> None:
    pmc = write_jsonl(tmp_path / "pmc.jsonl", captions(2))
    name, items = read_source(pmc)
    assert name == "pmc-oa" and [i.id for i in items] == ["pmc-1", "pmc-2"] and items[0].kind == "caption"
    assert items[1].segments[0].text == "Case 1: axial CT shows a 1 cm mass in the left kidney."

    case = write_jsonl(
        tmp_path / "case.jsonl",
        [
            {
                "image": "c.png",
                "context": "A 60-year-old man with cough.",
                "question": "What is shown?",
                "answer": "A mass.",
            }
        ],
    )
    name, [item] = read_source(case)
    assert name == "case-report" and [(s.role, s.image) for s in item.segments] == [
        ("human", True),
        ("human", False),
        ("gpt", False),
    ]
    assert conversation_turns(item.segments, ["病例", "问题", "回答"]) == [
        {"from": "human", "value": "<image>\n病例\n问题"},
        {"from": "gpt", "value": "回答"},
    ]

    llava = tmp_path / "llava.json"
    turns = [
        {"from": "human", "value": "What is shown?\n<image>"},
        {"from": "gpt", "value": "A nodule."},
        {"from": "human", "value": "Where?"},
        {"from": "gpt", "value": "Right lung."},
    ]
    llava.write_text(json.dumps([{"id": "q7", "image": "x.png", "conversations": turns}]))
    name, [item] = read_source(llava)
    assert name == "llava-med" and item.id == "q7"
    # The `<image>` token is taken out before translation and put back first in the first human turn.
    assert [s.text for s in item.segments] == ["What is shown?", "A nodule.", "Where?", "Right lung."]
    assert (
        conversation_turns(item.segments, ["显示什么？", "结节。", "哪里？", "右肺。"])[0]["value"]
        == "<image>\n显示什么？"
    )

    csv_path = tmp_path / "generic.csv"
    csv_path.write_text("uid,img_path,text_en\na1,a.png,Chest X-ray.\na2,b.png,Right lung nodule.\n")
    name, items = read_source(csv_path, fields=parse_fields("id=uid,image=img_path,text=text_en"))
    assert name == "generic" and [(i.id, i.image, i.segments[0].text) for i in items] == [
        ("a1", "a.png", "Chest X-ray."),
        ("a2", "b.png", "Right lung nodule."),
    ]


def test_bad_records_name_file_line_and_field(tmp_path: Path) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [captions(1)[0], {"image": "b.png", "caption": ""}])
    with pytest.raises(DataError, match=r"bad\.jsonl:line 2: field 'caption': is empty"):
        read_source(bad)
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"picture": "a.png", "text": "x"}])
    with pytest.raises(
        DataError, match=r"unknown\.jsonl:line 1: no source format matches the fields \[picture, text\]"
    ):
        read_source(unknown)
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"id": "a", **captions(1)[0]}, {"id": "a", **captions(2)[1]}])
    with pytest.raises(DataError, match=r"dup\.jsonl:line 2: field 'id': 'a' already used at line 1"):
        read_source(dup)
    qa_csv = tmp_path / "qa.csv"
    qa_csv.write_text("img,q,a\nx.png,What is shown?,\n")
    with pytest.raises(DataError, match=r"qa\.csv:line 2: field 'a': is empty"):
        read_source(qa_csv, fields=parse_fields("image=img,question=q,answer=a"))
    with pytest.raises(ConfigError, match="unknown role 'caption'"):
        parse_fields("image=img,caption=c")
