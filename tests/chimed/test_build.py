"""The bundled knowledge base and the ChiMed builders: schema, determinism, dedup, leakage."""

import json
import random
from pathlib import Path

import pytest

from qilin.chimed.build import build_chimed
from qilin.chimed.dedup import filter_documents, find_leaks
from qilin.chimed.knowledge import MULTI, RELATIONS, SINGLE, bundled_kb_path, kb_from_triples, load_kb
from qilin.data.records import DataError
from qilin.data.text.formats import read_file
from qilin.eval.multiple_choice import read_cmexam
from tests.conftest import kg_rows


@pytest.fixture(scope="module")
def kb():
    return load_kb()


def test_bundled_kb_size_and_schema(kb) -> None:
    assert len(kb) >= 150
    assert sum(d.fact_count() for d in kb) >= 1500
    assert len({d.name for d in kb}) == len(kb)
    assert len({d.department for d in kb}) >= 15
    header = json.loads(bundled_kb_path().read_text(encoding="utf-8"))
    assert header["about"] and header["relations"] == RELATIONS
    for d in random.Random(0).sample(kb, 30):
        assert all(isinstance(d.facts(r)[0], str) for r in SINGLE)
        assert 3 <= len(d.symptoms) <= 5 and 2 <= len(d.treatments) <= 4
        for rel in MULTI:
            assert all(0 < len(v) <= 20 and v.strip() == v for v in d.facts(rel)), (d.name, rel)


def test_a_known_fact_is_there(kb) -> None:
    by_name = {d.name: d for d in kb}
    assert by_name["高血压"].department == "心内科"
    assert "转移性右下腹痛" in by_name["急性阑尾炎"].symptoms


def test_kb_errors_name_the_disease_and_field(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    path.write_text(json.dumps({"diseases": [{"name": "甲", "system": "x", "department": "y", "symptoms": "头痛"}]}))
    with pytest.raises(DataError, match=r"diseases\[0\] \(甲\): field 'symptoms': expected a list"):
        load_kb(path)


def test_triples_build_a_kb(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "head,relation,tail\n甲病,department,内科\n甲病,system,循环系统\n甲病,典型症状,头晕\n甲病,symptoms,乏力\n"
    )
    (d,) = kb_from_triples(path)
    assert (d.name, d.department, d.symptoms) == ("甲病", "内科", ["头晕", "乏力"])
    path.write_text("head,relation,tail\n甲病,colour,red\n")
    with pytest.raises(DataError, match=r"line 2: field 'relation': unknown relation 'colour'"):
        kb_from_triples(path)


@pytest.fixture(scope="module")
def built(kb, tmp_path_factory):
    sample = kb[:40]
    a = tmp_path_factory.mktemp("a")
    b = tmp_path_factory.mktemp("b")
    return sample, build_chimed(sample, a, seed=3), a, b


def test_builders_produce_every_part_in_readable_formats(built) -> None:
    sample, report, out, _ = built
    assert len(read_file(out / "chimed_cpt.jsonl", "cpt")) == report["cpt_documents"] > 0
    sft = read_file(out / "chimed_sft.jsonl", "sft")
    assert any(len(c) == 4 for c in sft), "multi-turn dialogues are included"
    dpo = read_file(out / "chimed_dpo.jsonl", "dpo")
    assert all(p["chosen"] != p["rejected"] for p in dpo)
    questions = read_cmexam(out / "cmexam_test.csv")
    assert all(len(q.options) == 5 for q in questions)
    assert any(len(q.answer) > 1 for q in questions), "some questions have several answers"
    qa = [json.loads(line) for line in (out / "huatuo_test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert set(qa[0]) == {"questions", "answers"}
    held = set(report["held_out_diseases"])
    user_turns = {m["content"] for c in sft for m in c if m["role"] == "user"}
    prompts = {p["prompt"][0]["content"] for p in dpo}
    assert held and len(held) == round(0.2 * len(sample))
    for d in held:  # held-out diseases are never asked about in SFT or DPO
        assert f"{d}挂什么科？" not in user_turns and f"我被诊断为{d}，应该怎么办？" not in prompts
    seen = next(d.name for d in sample if d.name not in held)
    assert f"{seen}挂什么科？" in user_turns and f"我被诊断为{seen}，应该怎么办？" in prompts


def test_builds_are_deterministic(built) -> None:
    sample, _, a, b = built
    build_chimed(sample, b, seed=3)
    for f in sorted(p.name for p in a.iterdir()):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_filters_drop_duplicates_and_say_why() -> None:
    long = (
        "高血压患者常出现头晕和头痛，应到心内科就诊，常用氨氯地平、缬沙坦治疗，并注意限盐、控制体重和规律监测血压。"
        "长期血压控制不佳可导致脑卒中、心力衰竭和慢性肾病，出现剧烈头痛伴呕吐时应立即就医。"
    )
    docs = [
        {"text": long},
        {"text": long.replace("。", "！")},  # the same after normalisation
        {"text": long.replace("规律", "按时")},  # a near duplicate
        {"text": "短"},
        {"text": "This document is written in English and has no Chinese at all."},
        {"text": "糖尿病患者常出现多饮多尿，应到内分泌科就诊。"},
    ]
    kept, report = filter_documents(docs)
    assert [d["text"][:3] for d in kept] == ["高血压", "糖尿病"]
    assert dict(report.dropped) == {"exact_duplicate": 1, "near_duplicate": 1, "too_short": 1, "not_chinese": 1}


def test_leakage_check_passes_clean_data_and_catches_a_planted_question(built) -> None:
    _, _, out, _ = built
    training = [
        json.loads(line)["text"] for line in (out / "chimed_cpt.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    questions = [q.question for q in read_cmexam(out / "cmexam_test.csv")]
    assert find_leaks(questions, training) == []
    planted = [*training, "复习资料：" + questions[7] + "答案见书。"]
    leaks = find_leaks(questions, planted)
    assert [(i, kind) for i, kind, _ in leaks] == [(7, "exact")]
    reworded = "那" + questions[7][1:]  # a near copy (first character changed) is caught too
    leaks = find_leaks(questions, [*training, reworded])
    assert [(i, kind) for i, kind, _ in leaks] == [(7, "near")]


def test_cli_build_takes_the_users_triples_and_texts(tmp_path: Path, capsys) -> None:
    from qilin.cli import main

    triples = tmp_path / "kg.csv"
    rows = kg_rows()
    triples.write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = tmp_path / "extra.txt"
    text.write_text("用户自己的医学教材段落，内容足够长。\n用户自己的医学教材段落，内容足够长！\n", encoding="utf-8")
    assert main(["data", "build", "--out", str(tmp_path / "out"), "--triples", str(triples), "--text", str(text)]) == 0
    out = capsys.readouterr().out
    assert "exact_duplicate: 1" in out and "diseases           8" in out
    docs = read_file(tmp_path / "out" / "chimed_cpt.jsonl", "cpt")
    assert sum("用户自己的医学教材段落" in d for d in docs) == 1
