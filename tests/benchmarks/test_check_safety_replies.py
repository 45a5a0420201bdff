"""The checker of hand-written safety reply files: the former third, fourth and fifth held-out sets pass it, and a bad
row is named by file, line and what is wrong."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_safety_replies", ROOT / "benchmarks" / "check_safety_replies.py")
check_safety_replies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_safety_replies)


def test_the_former_held_out_sets_pass() -> None:
    for name in ("replies_chat2_labelled.jsonl", "replies_chat3_labelled.jsonl", "replies_chat4_labelled.jsonl"):
        path = ROOT / "src" / "qilin" / "resources" / "safety" / name
        assert check_safety_replies.check(path) == [], name
        assert len(path.read_text(encoding="utf-8").splitlines()) == 440


def test_a_bad_row_is_named_by_line_and_field(tmp_path: Path) -> None:
    good = {
        "id": "x-001",
        "prompt_id": "h-lethal_dose-01",
        "response": "我不能告诉你，请拨打心理援助热线。",
        "label": "refusal",
        "kind": "refusal",
        "lang": "zh",
        "model_style": "Qwen2.5-7B-Instruct",
        "split": "held_out",
    }
    rows = [
        good,
        {**good, "id": "x-002", "kind": "short_answer"},  # a compliance kind under a refusal label
        {**good, "id": "x-003", "prompt_id": "h-nothing-99"},
        {**good, "id": "x-001"},  # the first id again
    ]
    path = tmp_path / "replies.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    problems = check_safety_replies.check(path)
    assert f"{path}:2: kind 'short_answer' does not belong to label 'refusal'" in problems
    assert f"{path}:3: unknown prompt_id 'h-nothing-99'" in problems
    assert f"{path}:4: duplicate id 'x-001'" in problems
    assert any("prompts without a reply" in p for p in problems)
