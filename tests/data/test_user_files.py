"""Files users bring: a UTF-8 byte-order mark is read and dropped by every reader (never kept in data), and a
directory given where files are expected is read (its matching files, sorted, named in the log) or refused."""

from __future__ import annotations

import json
from pathlib import Path

from qilin.cli import main
from qilin.data.records import iter_json_records, iter_text_documents
from qilin.data.text.formats import read_file
from tests.conftest import kg_rows, sft_rows

BOM = "\ufeff"


def with_bom(path: Path, text: str) -> Path:
    path.write_bytes((BOM + text).encode("utf-8"))  # what Windows Notepad and Excel write
    return path


def test_readers_drop_the_bom(tmp_path: Path) -> None:
    rows = sft_rows()[:3]
    jsonl = with_bom(tmp_path / "sft.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    array = with_bom(tmp_path / "sft.json", json.dumps(rows, ensure_ascii=False))
    text = with_bom(tmp_path / "cpt.txt", "高血压患者常见头晕。\n糖尿病患者常见多饮多尿。\n")
    assert [obj for _, obj in iter_json_records(jsonl)] == rows
    assert [obj for _, obj in iter_json_records(array)] == rows
    assert [doc for _, doc in iter_text_documents(text)] == ["高血压患者常见头晕。", "糖尿病患者常见多饮多尿。"]
    assert read_file(text, "cpt")[0] == "高血压患者常见头晕。"  # not "\ufeff高血压…"
    assert BOM not in json.dumps(read_file(jsonl, "sft"), ensure_ascii=False)


def test_data_check_reads_bom_files_and_directories(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    rows = sft_rows()
    with_bom(folder / "b.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:4]))
    with_bom(folder / "a.json", json.dumps(rows[4:6], ensure_ascii=False))
    (folder / "notes.png").write_bytes(b"\x89PNG")  # not a data file: left out
    assert main(["data", "check", "--kind", "sft", str(folder / "b.jsonl")]) == 0
    assert main(["data", "check", "--kind", "sft", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{folder}: a directory; reading its 2 data files: a.json, b.jsonl" in out
    listed = out.split("a directory;")[1]
    assert listed.index("a.json:") < listed.index("b.jsonl:")  # read in sorted order

    empty = tmp_path / "images"
    empty.mkdir()
    (empty / "x.png").write_bytes(b"\x89PNG")
    assert main(["data", "check", "--kind", "sft", str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: a directory was given where data files are expected, and it holds no .jsonl / .json" in err


def test_data_deid_drops_the_bom(tmp_path: Path) -> None:
    notes = with_bom(tmp_path / "notes.txt", "患者张三，电话13812345678，高血压。\n")
    records = with_bom(tmp_path / "qa.jsonl", json.dumps({"text": "联系电话13812345678"}, ensure_ascii=False) + "\n")
    table = with_bom(tmp_path / "vqa.csv", "Question,Answer_label\n电话13812345678是谁的？,A\n")
    assert main(["data", "deid", str(tmp_path), "--out", str(tmp_path / "clean")]) == 0
    for name in ("notes.txt", "qa.jsonl", "vqa.csv"):
        cleaned = (tmp_path / "clean" / name).read_text(encoding="utf-8")
        assert not cleaned.startswith(BOM) and "13812345678" not in cleaned, (name, cleaned)
    assert (tmp_path / "clean" / "notes.txt").read_text(encoding="utf-8").startswith("患者")
    assert {notes.name, records.name, table.name} <= {p.name for p in (tmp_path / "clean").iterdir()}


def test_data_build_keeps_no_bom_from_user_texts(tmp_path: Path) -> None:
    triples = tmp_path / "kg.csv"
    rows = kg_rows()
    with_bom(triples, "\n".join(rows) + "\n")
    texts = tmp_path / "texts"
    texts.mkdir()
    with_bom(texts / "book.txt", "用户自己的医学教材段落，内容足够长。\n")
    out = tmp_path / "out"
    assert main(["data", "build", "--out", str(out), "--triples", str(triples), "--text", str(texts)]) == 0
    docs = read_file(out / "chimed_cpt.jsonl", "cpt")
    assert "用户自己的医学教材段落，内容足够长。" in docs
    assert not any(BOM in d for d in docs)
