"""Worker processes: the same output bytes, order and per-record numbering as one process; the dev-note goals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.privacy import parallel
from qilin.privacy.evaluate import EVAL_DIR, evaluate_file
from qilin.privacy.files import deid_files, scan_file

NOTES = [
    "患者王小明，男，45岁，电话13812345678。王主任查房。",
    "我叫赵丽颖，微信号：zly_2020。赵女士头痛。",
    "主刀：张建华  一助：李明。于2024年6月3日行腹腔镜胆囊切除术。",
    "Patient: John Smith, MRN 00458812. Mr. Smith admitted to St. Mary's Hospital.",
    "患者高钾血症已纠正，血钾4.6mmol/L。",
]


def test_workers_write_the_same_file_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_MIN_PARALLEL", 20)
    monkeypatch.setattr(parallel, "_BATCH", 3)
    src = tmp_path / "cpt.jsonl"
    rows = [{"text": NOTES[i % len(NOTES)] + f" 第{i}例"} for i in range(100)]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    one = deid_files([src], tmp_path / "one", workers=1)
    two = deid_files([src], tmp_path / "two", workers=2)
    a = (tmp_path / "one" / "cpt.jsonl").read_text(encoding="utf-8")
    b = (tmp_path / "two" / "cpt.jsonl").read_text(encoding="utf-8")
    assert a == b
    lines = [json.loads(line)["text"] for line in a.splitlines()]
    assert lines[0] == "患者[姓名1]，男，45岁，电话[电话1]。[姓名2]主任查房。 第0例"  # numbering restarts per record
    assert lines[6] == "我叫[姓名1]，微信号：[账号1]。[姓名1]女士头痛。 第6例"
    assert [line.split(" 第")[-1] for line in lines] == [f"{i}例" for i in range(100)]  # order kept
    assert one.to_json() == two.to_json()
    assert scan_file(tmp_path / "two" / "cpt.jsonl", workers=2).total == 0
    assert scan_file(src, workers=2).to_json()["types"] == one.to_json()["types"]


def test_check_phi_reports_each_hit_in_its_context(tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("患者：王小明，男，45岁，QQ：384756291\n", encoding="utf-8")
    report = scan_file(src)
    assert report.examples["name"] == ["患者：«王**»，男，45岁，QQ：**…"]  # the window cuts the QQ number
    assert report.examples["account"] == ["…**，男，45岁，QQ：«3*******1»"]


def test_development_notes_meet_the_goals() -> None:
    """The hand-written notes the detector was tuned on (not a measure of other notes: a regression check)."""
    scores = evaluate_file(EVAL_DIR / "dev_notes.jsonl")
    types = scores["types"]
    assert scores["records"] >= 150 and scores["protected"] >= 400
    assert types["name"]["recall"] >= 0.98
    for t in ("id", "phone", "email", "record", "card", "account"):
        assert types[t]["recall"] in (None, 1.0), (t, scores["misses"])
    assert all(s["precision"] is None or s["precision"] >= 0.95 for s in types.values()), scores["false_alarms"]
    assert scores["protected_altered"] == 0.0
