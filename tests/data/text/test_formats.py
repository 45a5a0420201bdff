import json
from pathlib import Path

import pytest

from qilin.data.records import DataError, text_layout
from qilin.data.text.formats import check_file, read_file
from tests.conftest import write_jsonl

HELLO = [{"role": "user", "content": "头痛怎么办？"}, {"role": "assistant", "content": "建议休息，持续加重请就医。"}]


def test_text_one_document_per_line(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("第一篇。\n第二篇。\n\n", encoding="utf-8")  # trailing blank lines do not make paragraphs
    assert text_layout(path) == "lines"
    assert read_file(path, "cpt") == ["第一篇。", "第二篇。"]


def test_text_blank_line_separated(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("第一篇\n第一篇续。\n\n第二篇。\n", encoding="utf-8")
    assert text_layout(path) == "paragraphs"
    assert read_file(path, "cpt") == ["第一篇\n第一篇续。", "第二篇。"]


def test_jsonl_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "甲"}, {"text": "乙", "source": "kg"}])
    assert read_file(path, "cpt") == ["甲", "乙"]


@pytest.mark.parametrize(
    "record",
    [
        {"messages": HELLO},
        {"conversations": [{"from": "human", "value": "头痛怎么办？"}, {"from": "gpt", "value": HELLO[1]["content"]}]},
        {"conversations": [{"input": "头痛怎么办？", "output": HELLO[1]["content"]}]},  # Qilin-Med variant
        {
            "conversations": [
                {"from": "input", "value": "头痛怎么办？"},
                {"from": "output", "value": HELLO[1]["content"]},
            ]
        },
        {"instruction": "头痛怎么办？", "input": "", "output": HELLO[1]["content"]},
    ],
    ids=["messages", "sharegpt", "qilin-input-output", "qilin-from-input-output", "alpaca"],
)
def test_every_sft_format_reads_to_the_same_conversation(tmp_path: Path, record: dict) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [record])
    assert read_file(path, "sft") == [HELLO]


def test_alpaca_input_is_appended_and_system_kept(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "s.jsonl", [{"instruction": "翻译", "input": "headache", "output": "头痛", "system": "S"}]
    )
    assert read_file(path, "sft")[0] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "翻译\nheadache"},
        {"role": "assistant", "content": "头痛"},
    ]


EXPECTED_PREF = {"prompt": [{"role": "user", "content": "头痛怎么办？"}], "chosen": "就医", "rejected": "不用管"}


@pytest.mark.parametrize(
    "record",
    [
        {"prompt": "头痛怎么办？", "chosen": "就医", "rejected": "不用管"},
        {
            "prompt": [{"role": "user", "content": "头痛怎么办？"}],
            "chosen": [{"role": "assistant", "content": "就医"}],
            "rejected": [{"role": "assistant", "content": "不用管"}],
        },
        {"conversations": [{"from": "human", "value": "头痛怎么办？"}], "chosen": "就医", "rejected": "不用管"},
        {"question": "头痛怎么办？", "response_chosen": "就医", "response_rejected": "不用管"},
        {"instruction": "头痛怎么办？", "response_accepted": "就医", "response_rejected": "不用管"},
    ],
    ids=["strings", "message-lists", "medicalgpt", "qilin", "qilin-cmexam"],
)
def test_every_dpo_format_reads_to_the_same_preference(tmp_path: Path, record: dict) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [record])
    assert read_file(path, "dpo") == [EXPECTED_PREF]


def test_json_array_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"messages": HELLO}] * 3, ensure_ascii=False))
    assert len(read_file(path, "sft")) == 3


# --- malformed input: the error names file, line and field --------------------------------------------


def test_bad_json_names_the_line_and_counts_all_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    good = json.dumps({"messages": HELLO}, ensure_ascii=False)
    path.write_text(f"{good}\n{good}\n{{not json\n{good}\n[oops\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_file(path, "sft")
    assert str(path) in str(e.value) and "line 3" in str(e.value) and "not valid JSON" in str(e.value)
    assert "2 of 5 records are bad" in str(e.value)
    report = check_file(path, "sft")
    assert (report.records, report.bad, report.format) == (5, 2, "messages")


def test_missing_field_is_named(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [{"prompt": "头痛？", "chosen": "就医", "rejected": "x"}, {"prompt": "头痛？", "chosen": "就医"}],
    )
    # the format is detected from the first record; the second lacks a field of it
    with pytest.raises(DataError, match=r"p\.jsonl:line 2: missing field 'rejected'"):
        read_file(path, "dpo")


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "好"}, {"text": 42}])
    with pytest.raises(DataError, match=r"c\.jsonl:line 2: field 'text': expected str, got int"):
        read_file(path, "cpt")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.jsonl: file is empty"):
        read_file(path, "sft")


def test_unknown_format_lists_the_accepted_ones(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"q": "a", "a": "b"}])
    with pytest.raises(
        DataError, match=r"line 1: no sft format matches the fields \[q, a\].*alpaca \(instruction, output\)"
    ):
        read_file(path, "sft")


def test_bad_turn_order_and_roles_are_named(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"messages": [HELLO[1], HELLO[0]]}])
    with pytest.raises(DataError, match=r"line 1: field 'messages': turn 1 is 'assistant', expected 'user'"):
        read_file(path, "sft")
    path = write_jsonl(tmp_path / "s.jsonl", [{"conversations": [{"from": "doctor", "value": "x"}]}])
    with pytest.raises(DataError, match=r"conversations\[0\]\.from: unknown speaker 'doctor'"):
        read_file(path, "sft")


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_file(tmp_path / "nope.jsonl", "sft")
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n")
    with pytest.raises(DataError, match=r"unsupported file type '\.csv' for sft data"):
        read_file(csv, "sft")
