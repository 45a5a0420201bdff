"""Preferences: the questions file, the blind order, decisions, the majority rule of apply, and agreement on A/B."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qilin.config import ConfigError
from qilin.curation.compare import ITEMS, MANIFEST, compare_models, read_questions
from qilin.curation.preference_server import create_preference_app
from qilin.curation.preferences import (
    apply_preferences,
    blind_order,
    order_path,
    outcome,
    preference_stats,
    record_preference,
)
from qilin.data.records import DataError
from qilin.data.text.formats import read_file
from qilin.durable import read_jsonl_log

from ..conftest import write_jsonl


def compare_dir(tmp_path: Path, answers: list[tuple[str, str]]) -> Path:
    """A compare directory with one question per (A, B) answer pair, as `qilin data compare` writes it."""
    out = tmp_path / "cmp"
    out.mkdir()
    rows = [
        {"id": f"q{i}", "prompt": [{"role": "user", "content": f"问题{i}？"}], "A": a, "B": b}
        for i, (a, b) in enumerate(answers, 1)
    ]
    write_jsonl(out / ITEMS, rows)
    (out / MANIFEST).write_text(json.dumps({"items": len(rows)}))
    return out


def test_questions_come_from_jsonl_json_or_text_and_a_bad_record_is_named(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "q.jsonl", [{"question": "高血压挂什么科？"}, {"prompt": " 痛风吃什么药？ "}])
    assert read_questions(jsonl) == [("line 1", "高血压挂什么科？"), ("line 2", "痛风吃什么药？")]
    (tmp_path / "q.json").write_text(json.dumps([{"prompt": "哮喘怎么办？"}]), encoding="utf-8")
    assert read_questions(tmp_path / "q.json") == [("record 1", "哮喘怎么办？")]
    (tmp_path / "q.txt").write_text("胃炎挂什么科？\n\n糖尿病常用什么药？\n", encoding="utf-8")
    assert [q for _, q in read_questions(tmp_path / "q.txt")] == ["胃炎挂什么科？", "糖尿病常用什么药？"]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "a"}, {"text": "b"}])
    with pytest.raises(DataError, match=r"bad.jsonl:line 2: missing field 'question'.*'prompt' string"):
        read_questions(bad)
    blank = write_jsonl(tmp_path / "blank.jsonl", [{"question": "  "}])
    with pytest.raises(DataError, match=r"line 1: field 'question': is blank"):
        read_questions(blank)
    with pytest.raises(ConfigError, match="--temperature > 0"):  # two greedy samples of one model are one answer
        compare_models(jsonl, ["m"], tmp_path / "out", samples=2, temperature=0)
    with pytest.raises(ConfigError, match="two models"):
        compare_models(jsonl, ["m", "n"], tmp_path / "out", samples=2, temperature=1)


def test_the_blind_order_is_drawn_once_per_reviewer_and_never_sent(tmp_path: Path) -> None:
    cmp = compare_dir(tmp_path, [(f"回答A{i}", f"回答B{i}") for i in range(40)])
    items = [json.loads(line) for line in (cmp / ITEMS).read_text().splitlines()]
    order = blind_order(cmp, "wang", items[:30], random.Random(0))
    assert sorted(order) == sorted(f"q{i}" for i in range(1, 31)) and 8 < list(order.values()).count("A") < 22
    again = blind_order(cmp, "wang", items, random.Random(1))  # kept: only the 10 new items are drawn
    assert {k: again[k] for k in order} == order and len(again) == 40
    assert json.loads(order_path(cmp, "wang").read_text()) == again
    assert blind_order(cmp, "li", items, random.Random(1)) != again  # each reviewer gets their own draw

    client = TestClient(create_preference_app(cmp, "wang", items), base_url="http://127.0.0.1")
    queue = client.get("/api/queue").json()
    for row in queue["items"]:
        assert set(row) == {"id", "prompt", "left", "right", "decision"}
        label = again[row["id"]]  # the server's secret: the page sees texts by side only
        assert row["left"] == f"回答{label}{int(row['id'][1:]) - 1}"
    saved = client.post("/api/decision", json={"id": "q1", "better": "left", "reasons": ["verbose", "unsafe"]})
    assert saved.json() == {
        "better": "left",
        "reasons": ["unsafe", "verbose"],
        "edited": None,
        "time": saved.json()["time"],
    }
    [row] = read_jsonl_log(cmp / "review" / "decisions-wang.jsonl")
    assert row["left"] == again["q1"] and outcome(row) == again["q1"]  # stored with the side's answer
    assert set(client.get("/api/queue").json()["items"][0]["decision"]) == {"better", "reasons", "edited", "time"}
    bad = client.post("/api/decision", json={"id": "q2", "better": "tie", "edited": "x"})
    assert bad.status_code == 422 and "a tie has none" in bad.json()["detail"]
    assert client.post("/api/decision", json={"id": "q2", "better": "up"}).status_code == 422
    assert client.post("/api/decision", json={"id": "q2", "better": "left", "reasons": ["rude"]}).status_code == 422
    assert client.post("/api/decision", json={"id": "q99", "better": "left"}).status_code == 404
    assert TestClient(create_preference_app(cmp, "wang", items)).get("/").status_code == 400  # Host is checked
    with pytest.raises(ConfigError, match="reviewer name"):
        create_preference_app(cmp, "../x", items)


def decide(cmp: Path, reviewer: str, item_id: str, winner: str, edited: str | None = None, left: str = "A") -> None:
    """Record that `reviewer` found answer `winner` (A, B or tie) better, seen with `left` on the left."""
    item = next(json.loads(line) for line in (cmp / ITEMS).read_text().splitlines() if f'"{item_id}"' in line)
    better = "tie" if winner == "tie" else "left" if winner == left else "right"
    record_preference(cmp, reviewer, item, left, better, ["wrong_fact"] if winner != "tie" else [], edited)
    time.sleep(0.002)  # decisions are ordered by their millisecond timestamps


def test_apply_keeps_majorities_uses_edits_and_drops_ties_splits_and_equal_texts(tmp_path: Path) -> None:
    cmp = compare_dir(tmp_path, [("A1", "B1"), ("A2", "B2"), ("A3", "B3"), ("A4", "B4"), ("A5", "B5"), ("同", "同")])
    decide(cmp, "wang", "q1", "A", left="B")  # sides differ between reviewers: outcomes still agree
    decide(cmp, "li", "q1", "A", left="A")
    decide(cmp, "zhao", "q1", "B")
    decide(cmp, "wang", "q2", "B", edited="B2，改")
    decide(cmp, "li", "q2", "B", edited="B2，再改")  # the later edit of the majority wins
    decide(cmp, "zhao", "q2", "A", edited="A2，少数")  # a minority edit is never used
    decide(cmp, "wang", "q3", "tie")
    decide(cmp, "li", "q3", "tie")
    decide(cmp, "zhao", "q3", "A")
    decide(cmp, "wang", "q4", "A")
    decide(cmp, "li", "q4", "B")
    decide(cmp, "zhao", "q4", "tie")
    decide(cmp, "wang", "q6", "A")
    decide(cmp, "li", "q6", "A")
    decide(cmp, "wang", "q1", "B", left="B")  # changed mind: the last decision counts ...
    decide(cmp, "wang", "q1", "A", left="B")  # ... and back
    summary = apply_preferences(cmp, tmp_path / "pairs.jsonl")
    assert {k: summary[k] for k in ("pairs", "edited", "ties_dropped", "no_majority_dropped", "undecided")} == {
        "pairs": 2,
        "edited": 1,
        "ties_dropped": 1,
        "no_majority_dropped": 1,
        "undecided": 1,
    }
    assert summary["unusable_dropped"] == 1 and summary["chosen"] == {"A": 1, "B": 1}
    pairs = read_file(tmp_path / "pairs.jsonl", "dpo")  # the DPO stage's reader accepts the file
    assert [(p["prompt"][0]["content"], p["chosen"], p["rejected"]) for p in pairs] == [
        ("问题1？", "A1", "B1"),
        ("问题2？", "B2，再改", "A2"),
    ]
    # Two reviewers only: q1 A/A, q2 B/B, q3 tie/tie, q4 A/B (split), q6 equal texts.
    two = apply_preferences(cmp, tmp_path / "two.jsonl", reviewers=["wang", "li"])
    assert (two["pairs"], two["ties_dropped"], two["no_majority_dropped"]) == (2, 1, 1)
    with pytest.raises(FileNotFoundError, match="no decisions from nobody"):
        apply_preferences(cmp, tmp_path / "x.jsonl", reviewers=["nobody"])


def test_stats_map_sides_back_to_answers_and_match_a_hand_computed_kappa(tmp_path: Path) -> None:
    cmp = compare_dir(tmp_path, [(f"A{i}", f"B{i}") for i in range(1, 11)])
    wang = ["A", "A", "A", "B", "B", "tie", "A", "B", "A", "tie"]
    li = ["A", "A", "B", "B", "B", "tie", "tie", "B", "A", "A"]
    for i, (x, y) in enumerate(zip(wang, li, strict=True), 1):
        decide(cmp, "wang", f"q{i}", x, left="A" if i % 2 else "B")
        decide(cmp, "li", f"q{i}", y, left="B" if i % 3 else "A")
    # Agreement on q1, q2, q4, q5, q6, q8, q9: 7/10. wang: A 5, B 3, tie 2; li: A 4, B 4, tie 2.
    # Chance = (5*4 + 3*4 + 2*2) / 100 = 0.36; kappa = (0.70 - 0.36) / 0.64 = 0.53125.
    stats = preference_stats(cmp)
    [pair] = stats["pairs"]
    assert pair["items"] == 10 and pair["percent_agreement"] == pytest.approx(70.0)
    assert pair["kappa"] == pytest.approx(0.53125) and pair["confusion"]["tie/A"] == 1
    assert stats["reviewers"]["wang"]["A"] == 5 and stats["reviewers"]["li"]["tie"] == 2
    assert stats["reviewers"]["wang"]["agreement_with_others_percent"] == pytest.approx(70.0)
    # wang saw A on the left on odd items: picks left on q1, q3, q7, q9 (A) and on q4, q8 (B on the left): 6 of 8.
    assert stats["reviewers"]["wang"]["left_picked_percent"] == pytest.approx(75.0)
    assert stats["reasons_against"] == {"A": {"wrong_fact": 3 + 4}, "B": {"wrong_fact": 5 + 4}}
    assert json.loads((cmp / "review" / "agreement.json").read_text())["pairs"][0]["kappa"] == pytest.approx(0.53125)


def test_compare_takes_an_endpoint_for_either_answer_or_both(tiny_chat_dir: Path, tmp_path: Path) -> None:
    """A served model answers as the same model loaded here (greedy, its training template); two names at one
    endpoint, two seeded samples from an endpoint (asked again, the same answers), and a name too many refused."""
    from qilin.serve.chat import generate_reply
    from qilin.serve.engine import ChatEngine
    from qilin.serve.server import create_app
    from tests.live_server import LiveServer

    from ..conftest import DISEASES
    from .conftest import data_cli

    questions = write_jsonl(tmp_path / "q.jsonl", [{"question": f"{d}挂什么科？"} for d, *_ in DISEASES[:4]])
    engine = ChatEngine(tiny_chat_dir)
    live = LiveServer(create_app(engine, "demo-sft"))
    common = [str(questions), "--max-new-tokens", "12", "--batch-size", "1"]
    try:
        mixed = tmp_path / "mixed"
        assert (
            data_cli(["compare", *common, "--models", str(tiny_chat_dir), "--endpoint", live.url, "--out", str(mixed)])
            == 0
        )
        manifest = json.loads((mixed / MANIFEST).read_text())
        assert manifest["answers"] == {
            "A": {"model": str(tiny_chat_dir), "sample": 1},
            "B": {"model": "demo-sft", "endpoint": live.url, "sample": 1},
        }
        items = [json.loads(line) for line in (mixed / ITEMS).read_text().splitlines()]
        local = [generate_reply(engine.model, engine.tokenizer, item["prompt"], 12) for item in items]
        assert [item["B"] for item in items] == [item["A"] for item in items] == local and local[
            0
        ] == "高血压应到心内科就诊。"
        assert manifest["identical_answers"] == 4  # one model two ways: the review would learn nothing, and is told

        both = tmp_path / "both"
        argv = [
            "--endpoint",
            live.url,
            "--endpoint",
            live.url + "/v1",
            "--model-name",
            "demo-sft",
            "--model-name",
            "demo-sft",
        ]
        assert data_cli(["compare", *common, *argv, "--out", str(both)]) == 0
        assert [json.loads(line)["A"] for line in (both / ITEMS).read_text().splitlines()] == local

        sampled = ["--endpoint", live.url, "--samples", "2", "--temperature", "1.5", "--seed", "3"]
        for out in ("s1", "s2"):
            assert data_cli(["compare", *common, *sampled, "--out", str(tmp_path / out)]) == 0
        first, again = ((tmp_path / out / ITEMS).read_text() for out in ("s1", "s2"))
        assert first == again and json.loads((tmp_path / "s1" / MANIFEST).read_text())["answers"]["B"]["sample"] == 2
        assert any(row["A"] != row["B"] for row in map(json.loads, first.splitlines()))

        with pytest.raises(ConfigError, match="2 --model-name for 1 endpoint"):
            compare_models(questions, [str(tiny_chat_dir), live.url], tmp_path / "x", model_names=["a", "b"])
    finally:
        live.stop()
