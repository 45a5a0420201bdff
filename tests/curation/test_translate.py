"""ChiMed-VL translation: the translator against a faulty local stand-in LLM, resume, outputs, the CLI verbs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from qilin.config import ConfigError
from qilin.curation.translate import cache_key, translate_file
from qilin.durable import append_jsonl, read_jsonl_log

from ..conftest import write_jsonl
from .conftest import captions, data_cli, make_images
from .fake_llm import FakeLLM, fake_translate, serve

REPO = Path(__file__).resolve().parents[2]
# `qilin data ...` in a fresh interpreter, its logging set up as the command line does, without the whole parser.
CLI = (
    "import argparse, sys\n"
    "from qilin.cli import curation\n"
    "from qilin.log import setup_logging\n"
    "setup_logging()\n"
    "parser = argparse.ArgumentParser(prog='qilin data')\n"
    "curation.add_parser(parser.add_subparsers(dest='data_verb', required=True))\n"
    "args = parser.parse_args()\n"
    "sys.exit(args.func(args))\n"
)


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
    argv += ["--retries", "3", "--timeout", "0.5", "--concurrency", "3"]
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


def test_a_wrong_model_or_key_stops_the_run_at_once_with_the_servers_message(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from qilin.cli.main import main

    src = write_jsonl(tmp_path / "pmc.jsonl", captions(40))
    fake = FakeLLM(models={"qwen2-7b-instruct"}, api_key="secret")
    with serve(fake) as url:
        argv = ["data", "translate", str(src), "--endpoint", url + "/v1", "--out", str(tmp_path / "out")]
        assert main([*argv, "--model", "qwen2-7b", "--api-key", "secret"]) == 2
        error = capsys.readouterr().err
        assert "answered HTTP 404: The model `qwen2-7b` does not exist. (check --endpoint, --model" in error
        assert 1 <= len(fake.log) <= 4  # the requests open when the first 404 came back (--concurrency 4), not 40
        assert not (tmp_path / "out" / "captions.jsonl").exists()

        fake.log.clear()
        with pytest.raises(ConfigError, match=r"HTTP 401: Incorrect API key provided\."):
            data_cli([*argv[1:], "--model", "qwen2-7b-instruct", "--api-key", "wrong", "--concurrency", "2"])
        assert 1 <= len(fake.log) <= 2
        assert data_cli([*argv[1:], "--model", "qwen2-7b-instruct", "--api-key", "secret"]) == 0
    assert "translated 40, failed 0" in capsys.readouterr().out


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
        argv += ["--out", str(out), "--concurrency", "2"]
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
    from qilin.data.vision.formats import check_images, read_vl_file

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
