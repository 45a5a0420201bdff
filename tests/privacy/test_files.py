"""Whole files: every text field de-identified, structure and names kept, readable by the same readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.cli.main import main
from qilin.data.records import DataError
from qilin.data.text.formats import read_file
from qilin.privacy.files import deid_files, scan_file

NOTE = "患者王小明，身份证号：110105198001011234，电话 138-1234-5678，阿莫西林0.5g tid"


def test_every_format_keeps_structure_and_names(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "notes.txt").write_text(f"{NOTE}\n王小明复诊。\n\n家属李华陪同，住院号：ZY2023001\n", encoding="utf-8")
    sft = {
        "messages": [
            {"role": "user", "content": "我是张伟，手机13912345678"},
            {"role": "assistant", "content": "张伟您好"},
        ]
    }
    (src / "sft.jsonl").write_text(json.dumps(sft, ensure_ascii=False) + "\n", encoding="utf-8")
    dpo = [{"prompt": "患者刘磊于2023年5月12日头痛", "chosen": "刘磊应就诊", "rejected": "不用管"}]
    (src / "dpo.json").write_text(json.dumps(dpo, ensure_ascii=False), encoding="utf-8")
    (src / "cap.jsonl").write_text(
        json.dumps({"image": "scan_2023-05-12.png", "caption": "患者刘磊于2023年5月12日行CT"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    (src / "vqa.csv").write_text("Figure_path,Question,Answer\n2023-05-12.png,Patient John Smith: what?,Nodule\n")
    out = tmp_path / "out"
    report = deid_files(sorted(src.iterdir()), out)

    assert (out / "notes.txt").read_text(encoding="utf-8") == (
        "患者[姓名1]，身份证号：[身份证号1]，电话 [电话1]，阿莫西林0.5g tid\n[姓名1]复诊。\n\n"
        "家属[姓名1]陪同，住院号：[病历号1]\n"
    )
    assert read_file(out / "sft.jsonl", "sft")[0] == [
        {"role": "user", "content": "我是[姓名1]，手机[电话1]"},
        {"role": "assistant", "content": "[姓名1]您好"},
    ]
    assert read_file(out / "dpo.json", "dpo")[0]["chosen"] == "[姓名1]应就诊"
    assert json.loads((out / "cap.jsonl").read_text(encoding="utf-8")) == {
        "image": "scan_2023-05-12.png",  # a file name, kept
        "caption": "患者[姓名1]于[日期1]行CT",
    }
    assert (
        out / "vqa.csv"
    ).read_text() == "Figure_path,Question,Answer\n2023-05-12.png,Patient [NAME1]: what?,Nodule\n"
    assert report.counts["name"] == 9 and report.counts["phone"] == 2 and report.counts["date"] == 2
    written = json.loads((out / "deid_report.json").read_text(encoding="utf-8"))
    # the example shows the words around the hit, the hit and its neighbours' values masked
    assert written["types"]["id"] == {
        "count": 1,
        "examples": ["患者***，身份证号：«1****************4»，电话 ********…"],
    }
    assert all(scan_file(p).total == 0 for p in out.iterdir() if p.name != "deid_report.json")
    assert scan_file(src / "notes.txt").counts["name"] == 3


def test_refuses_inputs_that_would_collide_or_be_overwritten(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "x.txt").write_text(NOTE + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="share a file name"):
        deid_files([tmp_path / "a" / "x.txt", tmp_path / "b" / "x.txt"], tmp_path / "out")
    with pytest.raises(DataError, match="overwrite the input"):
        deid_files([tmp_path / "a" / "x.txt"], tmp_path / "a")


def test_cli_deid_then_check_phi(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTE + "\n", encoding="utf-8")
    assert main(["data", "check", "--phi", str(notes)]) == 1
    assert "name          1  患者«王**»，身份证号：******…" in capsys.readouterr().out
    assert main(["data", "deid", str(notes), "--out", str(tmp_path / "clean")]) == 0
    assert main(["data", "check", "--phi", str(tmp_path / "clean" / "notes.txt")]) == 0
    assert "0 of 1 records hold PHI" in capsys.readouterr().out
    assert main(["data", "check", str(notes)]) == 2  # --kind is required without --phi


def test_build_deidentifies_user_texts_unless_keep_phi() -> None:
    from qilin.privacy.files import deid_user_data

    texts, conversations, report = deid_user_data(
        [NOTE], [[{"role": "user", "content": "家属李华问"}, {"role": "assistant", "content": "李华你好"}]]
    )
    assert texts == ["患者[姓名1]，身份证号：[身份证号1]，电话 [电话1]，阿莫西林0.5g tid"]
    assert conversations[0][1] == {"role": "assistant", "content": "[姓名1]你好"}
    assert report.total >= 3  # the note's name, ID number and phone, at least
