"""ChiMed-VL translation: source readers, checks, and the translator against a faulty local stand-in LLM."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from qilin.cli.curation import add_translate_commands
from qilin.config import ConfigError
from qilin.curation.checks import (
    check_translation,
    english_ratio,
    length_ratio,
    missing_numbers,
    source_sides,
    target_sides,
    token_f1,
)
from qilin.curation.glossary import Glossary, load_glossary
from qilin.curation.llm_client import ChatClient, RequestFailed, RetryPolicy, retry_after_seconds
from qilin.curation.sources import conversation_turns, parse_fields, read_source
from qilin.curation.translate import cache_key, translate_file
from qilin.data.records import DataError
from qilin.durable import append_jsonl, read_jsonl_log

from ..conftest import write_jsonl
from .fake_llm import FakeLLM, fake_translate, serve

REPO = Path(__file__).resolve().parents[2]
# `qilin data ...` as cli.py will wire it, in a fresh interpreter (cli.py itself is not changed here).
CLI = (
    "import argparse, sys\n"
    "from qilin.cli.curation import add_translate_commands\n"
    "parser = argparse.ArgumentParser(prog='qilin data')\n"
    "add_translate_commands(parser.add_subparsers(dest='verb', required=True))\n"
    "args = parser.parse_args()\n"
    "sys.exit(args.func(args))\n"
)


def data_cli(argv: list[str]) -> int:
    """Run a `qilin data` verb in this process."""
    parser = argparse.ArgumentParser(prog="qilin data")
    add_translate_commands(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def captions(n: int) -> list[dict]:
    text = "Case {i}: axial CT shows a {i} cm mass in the left kidney."
    return [{"image": f"img{i}.png", "caption": text.format(i=i)} for i in range(n)]


def make_images(folder: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        Image.new("RGB", (16, 16), (40 * i % 256, 90, 160)).save(folder / name)


# --- source readers -------------------------------------------------------------------------------------------


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


# --- checks ---------------------------------------------------------------------------------------------------

SOURCE = "Axial CT shows a 3 cm mass in the left kidney."  # 11 words: Axial CT shows a 3 cm mass in the left kidney
CLEAN = "轴位CT显示左肾有一个3 cm肿块。"  # 11 Chinese characters + CT, 3, cm kept = 14 units


def names(flags: list) -> list[str]:
    return [f.name for f in flags]


def test_a_clean_translation_passes_every_check() -> None:
    assert length_ratio(SOURCE, CLEAN) == pytest.approx(14 / 11)
    assert check_translation(SOURCE, CLEAN, Glossary({"kidney": "肾"})) == []
    assert check_translation("Bilateral pleural effusion, about 2 cm.", "双侧胸腔积液，约2 cm左右。") == []


def test_checks_flag_each_kind_of_mistake() -> None:
    # Untranslated English: "mass" (4 letters) of 8 Latin letters (CT, cm, mass) + 9 Chinese characters.
    share, words = english_ratio("轴位CT显示左肾有一个3 cm mass。")
    assert (share, words) == (pytest.approx(4 / 17), ["mass"])
    assert names(check_translation(SOURCE, "轴位CT显示左肾有一个3 cm mass。")) == ["untranslated_english"]

    dropped = check_translation("A 3.5 cm nodule, 12 mm from the right pleura.", "距右侧胸膜毫米处见一3.5 cm结节。")
    assert names(dropped) == ["number_missing"] and dropped[0].detail == "missing: 12"
    assert missing_numbers("1,200 mg at 8 h", "１２００ mg，8小时") == []  # thousands separator, full-width digits

    flipped = check_translation(SOURCE, "轴位CT显示右肾有一个3 cm肿块。")
    assert names(flipped) == ["laterality"] and flipped[0].detail == "source: left; translation: right"
    assert source_sides("Marker R; L4-L5 and 2 L of fluid") == {"right"}
    assert target_sides("约3 cm左右") == set() and target_sides("左右肺") == {"left", "right"}

    glossary = Glossary({"myocardial infarction": "心肌梗死"})
    broken = check_translation("Acute myocardial infarction.", "急性心肌梗塞。", glossary)
    assert names(broken) == ["glossary"] and "myocardial infarction -> 心肌梗死" in broken[0].detail

    truncated = check_translation(SOURCE, "轴位CT。")  # 2 characters + CT = 3 units for 11 words: 0.27
    assert names(truncated) == ["number_missing", "unit_missing", "laterality", "length_ratio"]
    assert length_ratio(SOURCE, "轴位CT。") == pytest.approx(3 / 11)
    assert names(check_translation("Give 5 mg daily.", "每日给予5。")) == ["unit_missing"]
    assert names(check_translation(SOURCE, "  ")) == ["empty"]

    # Back-translation: overlap {left, kidney} of 3 and 3 tokens -> P = R = F1 = 2/3.
    assert token_f1("the left kidney", "left kidney mass") == pytest.approx(2 / 3)
    assert names(check_translation(SOURCE, CLEAN, back_translation="A tumour on one side.")) == ["back_translation"]


# --- the translator against the stand-in ----------------------------------------------------------------------


def test_retry_after_is_honoured_over_a_long_backoff() -> None:
    fake = FakeLLM(script={"Chest X-ray.": ["429", "429"]})

    async def ask(url: str) -> str:
        client = ChatClient(url + "/v1", "fake", policy=RetryPolicy(retries=2, backoff=30.0))
        try:
            return await client.complete(
                [{"role": "system", "content": ""}, {"role": "user", "content": "Chest X-ray."}]
            )
        finally:
            await client.aclose()

    with serve(fake) as url:
        start = time.monotonic()
        assert asyncio.run(ask(url)) == "胸部X线片。"
        assert time.monotonic() - start < 5  # Retry-After: 0 twice, not 15-30 s + 30-60 s of backoff
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None


def test_faults_are_retried_and_a_permanent_failure_is_logged_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = write_jsonl(tmp_path / "pmc.jsonl", captions(6))
    text = [c["caption"] for c in captions(6)]
    fake = FakeLLM(
        script={text[0]: ["429"], text[1]: ["500"], text[2]: ["drop"], text[3]: ["slow", "500"]},
        always_fail={text[4]},
        slow_seconds=1.5,
    )
    out = tmp_path / "out"
    argv = ["translate", str(src), "--endpoint", "", "--model", "fake", "--out", str(out)]
    argv += ["--retries", "3", "--backoff", "0.01", "--timeout", "0.5", "--concurrency", "3"]
    with serve(fake) as url:
        argv[3] = url + "/v1"
        assert data_cli(argv) == 1  # done, but one item failed
        printed = capsys.readouterr().out
        outcomes = {t: [e["outcome"] for e in fake.log if e["text"] == t] for t in text}
        assert outcomes == {
            text[0]: ["429", "ok"],
            text[1]: ["500", "ok"],
            text[2]: ["drop", "ok"],
            text[3]: ["slow", "500", "ok"],  # a timeout, then a 500, then success
            text[4]: ["500"] * 4,
            text[5]: ["ok"],
        }
        assert "pmc.jsonl: pmc-oa format (detected), 6 items, 6 segments" in printed
        assert "translated 5, failed 1" in printed
        assert "5 new translations, 0 from the cache, 14 requests, 8 retries" in printed
        [failure] = list(read_jsonl_log(out / "failures.jsonl"))
        assert failure["id"] == "pmc-5" and failure["attempts"] == 4 and failure["error"].startswith("HTTP 500")
        written = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
        assert [r["id"] for r in written] == ["pmc-1", "pmc-2", "pmc-3", "pmc-4", "pmc-6"]
        assert written[0]["caption"] == fake_translate(text[0]) == "病例0：轴位CT显示一个0厘米肿块位于左肾。"

        # The same command again: the five done cost nothing, the failed one is tried again.
        fake.log.clear()
        fake.always_fail.clear()
        assert data_cli(argv) == 0
        assert "1 new translations, 5 from the cache" in capsys.readouterr().out
        assert [e["text"] for e in fake.log] == [text[4]]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["translated"], summary["failed"], summary["cache_hits"], summary["new_translations"]) == (
        6,
        0,
        5,
        1,
    )
    assert not (out / "failures.jsonl").exists()


def test_an_empty_translation_fails_the_item_instead_of_writing_an_empty_caption(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "pmc.jsonl", [{"image": "a.png", "caption": "The"}, captions(1)[0]])
    with serve(FakeLLM()) as url:  # the stand-in translates "the" to nothing
        summary = translate_file(src, tmp_path / "out", url + "/v1", "fake")
    assert (summary["translated"], summary["failed"]) == (1, 1)
    [failure] = list(read_jsonl_log(tmp_path / "out" / "failures.jsonl"))
    assert failure == {
        "id": "pmc-1",
        "where": "line 1",
        "error": "the model returned an empty translation",
        "attempts": 1,
    }
    assert len((tmp_path / "out" / "captions.jsonl").read_text().splitlines()) == 1


def test_a_killed_run_resumes_without_translating_anything_twice(tmp_path: Path) -> None:
    n = 30
    src = write_jsonl(tmp_path / "pmc.jsonl", captions(n))
    out = tmp_path / "out"
    # After 15 answers the stand-in holds every request: the kill comes with requests in flight, none answered, so
    # "every successful translation was requested once" is exact (see the module docstring of fake_llm).
    fake = FakeLLM(hold_after=n // 2)
    with serve(fake) as url:
        argv = [sys.executable, "-c", CLI, "translate", str(src), "--endpoint", url + "/v1", "--model", "fake"]
        argv += ["--out", str(out), "--concurrency", "2", "--backoff", "0.01"]
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while len(list(read_jsonl_log(out / "cache.jsonl"))) < n // 2 or fake.held_count() < 2:
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() else ""
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        cached_at_kill = {row["source"] for row in read_jsonl_log(out / "cache.jsonl")}
        assert len(cached_at_kill) == n // 2 and not (out / "captions.jsonl").exists()  # nothing half-written
        requests_first = len(fake.log)

        fake.release()
        second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert f"{n // 2} new translations, {n // 2} from the cache" in second.stdout
    written = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in written) == sorted(f"pmc-{i}" for i in range(1, n + 1))  # each item exactly once
    assert [r["caption"] for r in written] == [fake_translate(c["caption"]) for c in captions(n)]
    ok = Counter(e["text"] for e in fake.log if e["outcome"] == "ok")
    assert set(ok) == {c["caption"] for c in captions(n)} and set(ok.values()) == {1}  # nothing translated twice
    second_run = {e["text"] for e in fake.log[requests_first:]}
    assert not second_run & cached_at_kill  # what the first run had cached was never asked for again


def test_outputs_are_what_the_vl_readers_take_and_the_glossary_reaches_the_prompt(tmp_path: Path) -> None:
    from qilin.data.vision.vl_data import check_images, read_vl_file

    images = tmp_path / "images"
    images.mkdir()
    make_images(images, ["a.png", "b.png", "c.png"])
    llava = tmp_path / "llava.json"
    conversation = [
        {"from": "human", "value": "<image>\nWhere is the lesion?"},
        {"from": "gpt", "value": "In the right upper lobe of the lung."},
    ]
    llava.write_text(json.dumps([{"id": "m1", "image": "a.png", "conversations": conversation}]))
    glossary = tmp_path / "terms.json"
    glossary.write_text(json.dumps({"upper lobe": "上叶", "pleural effusion": "胸腔积液"}, ensure_ascii=False))
    fake = FakeLLM()
    with serve(fake) as url:
        summary = translate_file(llava, tmp_path / "out", url + "/v1", "fake", glossary=glossary, images=images)
        pmc = write_jsonl(tmp_path / "pmc.jsonl", [{"image": "b.png", "caption": "Left pleural effusion."}])
        translate_file(pmc, tmp_path / "out_cap", url + "/v1", "fake", glossary=glossary, back_translate=True)
    assert summary["format"] == "llava-med" and summary["images"] == str(images.resolve())
    systems = {e["text"]: e["system"] for e in fake.log}
    assert "upper lobe -> 上叶" in systems["In the right upper lobe of the lung."]
    assert "->" not in systems["Where is the lesion?"]  # only the terms a text uses go into its prompt
    assert "pleural effusion -> 胸腔积液" in systems["Left pleural effusion."]

    [record] = read_vl_file(tmp_path / "out" / "conversations.json", images=images)
    assert record.messages == [
        {"role": "user", "content": "<image>\n哪里是病灶？"},
        {"role": "assistant", "content": "位于右上叶的肺。"},
    ]
    [row] = [json.loads(line) for line in (tmp_path / "out_cap" / "flags.jsonl").read_text().splitlines()]
    assert row["back_translation"] == ["Left pleural effusion."] and row["flags"] == []  # back-translation F1 = 1
    [caption] = read_vl_file(tmp_path / "out_cap" / "captions.jsonl", images=images)
    assert caption.messages[1]["content"] == "左胸腔积液。"
    assert check_images([record, caption], tmp_path, skip_bad=False)[1] == 0  # both images resolve and load


def test_every_verb_has_help_and_bad_options_are_user_errors(capsys: pytest.CaptureFixture) -> None:
    expected = {
        "translate": "resume after a crash",
        "review": "ctrl+enter save the edit",
        "review-apply": "rejected items removed",
        "review-stats": "Cohen's kappa",
    }
    for verb, phrase in expected.items():
        with pytest.raises(SystemExit) as exit_:
            data_cli([verb, "--help"])
        assert exit_.value.code == 0 and phrase in " ".join(capsys.readouterr().out.split())
    with pytest.raises(ConfigError, match="expected an http"):
        data_cli(["translate", "x.jsonl", "--endpoint", "localhost:8000", "--model", "m"])


def test_cache_survives_a_torn_last_line(tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    append_jsonl(cache, {"key": "k1", "translation": "一"})
    with cache.open("a") as f:
        f.write('{"key": "k2", "transl')  # what a kill during a write leaves
    append_jsonl(cache, {"key": "k3", "translation": "三"})
    assert [row["key"] for row in read_jsonl_log(cache)] == ["k1", "k3"]
    terms = {"upper lobe": "上叶"}
    assert cache_key("x", "zh", "m", terms) != cache_key("x", "zh", "m", {})  # the glossary subset is in the key
    assert cache_key("x", "zh", "m", terms) != cache_key("x", "zh", "m2", terms)


def test_a_refused_connection_is_retried_and_a_4xx_is_not() -> None:
    async def ask(endpoint: str) -> None:
        client = ChatClient(endpoint, "fake", policy=RetryPolicy(retries=1, backoff=0.01, timeout=1))
        try:
            await client.complete([{"role": "user", "content": "x"}])
        finally:
            await client.aclose()

    with pytest.raises(RequestFailed, match=r"ConnectError.*after 2 attempts"):
        asyncio.run(ask("http://127.0.0.1:9/v1"))  # nothing listens on port 9 (discard)
    with serve(FakeLLM()) as url, pytest.raises(RequestFailed, match=r"HTTP 404.*after 1 attempt\)"):
        asyncio.run(ask(url + "/wrong"))  # the same request would be refused again
