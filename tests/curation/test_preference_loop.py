"""The clinician preference loop end to end: compare two models, two reviewers in headless Chromium, DPO pairs that
`qilin data check` accepts and the DPO stage trains one step on, and agreement mapped back to the models."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from qilin.cli.main import main as qilin_main
from qilin.config import DpoSettings, LoraSettings, ModelSettings
from qilin.curation.compare import read_comparison
from qilin.curation.preference_server import create_preference_app
from qilin.curation.preferences import order_path
from qilin.durable import read_jsonl_log
from qilin.serve.chat import generate_reply
from qilin.serve.engine import ChatEngine
from qilin.stages import dpo

from ..conftest import DISEASES, stage_context, write_jsonl
from .conftest import data_cli
from .fake_llm import serve

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
SCREENSHOT = Path(__file__).resolve().parents[2] / "runs" / "screenshots" / "preference_review.png"
EDIT = "糖尿病应到内分泌科就诊，并定期监测血糖。"


def side_of(order: dict[str, str], item_id: str, label: str) -> str:
    """The side ("left" or "right") where the reviewer sees answer `label` of an item."""
    return "left" if order[item_id] == label else "right"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium at /usr/bin/chromium")
def test_compare_review_blind_apply_and_train_one_dpo_step(
    tiny_model_dir: Path, tiny_chat_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from playwright.sync_api import sync_playwright

    questions = write_jsonl(tmp_path / "questions.jsonl", [{"question": f"{d}挂什么科？"} for d, *_ in DISEASES[:4]])
    # Two stages, greedy: B is the SFT model's answer, rendered with the chat template it was trained with.
    two = tmp_path / "two_models"
    argv = ["compare", str(questions), "--models", str(tiny_model_dir), str(tiny_chat_dir), "--max-new-tokens", "12"]
    assert data_cli([*argv, "--out", str(two)]) == 0
    manifest, items = read_comparison(two)
    assert manifest["answers"] == {
        "A": {"model": str(tiny_model_dir), "sample": 1},
        "B": {"model": str(tiny_chat_dir), "sample": 1},
    }
    assert (
        manifest["sampling"]["do_sample"] is False and "<|im_start|>" in manifest["chat_templates"][str(tiny_chat_dir)]
    )
    engine = ChatEngine(tiny_chat_dir)
    replies = [generate_reply(engine.model, engine.tokenizer, item["prompt"], 12) for item in items]
    assert [item["B"] for item in items] == replies and replies[0] == "高血压应到心内科就诊。"
    assert manifest["empty_answers"] == sum(not item["A"] or not item["B"] for item in items)

    # Two samples of the SFT model: what the reviewers compare. The recorded seed gives the same answers again.
    cmp = tmp_path / "cmp"
    argv = ["compare", str(questions), "--models", str(tiny_chat_dir), "--samples", "2", "--temperature", "0.1"]
    assert data_cli([*argv, "--max-new-tokens", "12", "--seed", "7", "--out", str(cmp)]) == 0
    assert data_cli([*argv, "--max-new-tokens", "12", "--seed", "7", "--out", str(tmp_path / "again")]) == 0
    manifest, items = read_comparison(cmp)
    assert items == read_comparison(tmp_path / "again")[1]
    assert manifest["answers"]["B"] == {"model": str(tiny_chat_dir), "sample": 2}
    assert manifest["sampling"] == {**manifest["sampling"], "temperature": 0.1, "do_sample": True, "seed": 7}
    assert all(item["A"] and item["B"] and item["A"] != item["B"] for item in items)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # wang works by keyboard: tags, picks, an edit, a tie.
        with serve(create_preference_app(cmp, "wang", items)) as url:
            order = json.loads(order_path(cmp, "wang").read_text())
            page = browser.new_page(viewport={"width": 1100, "height": 620})
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]")
            sent = page.evaluate("fetch('api/queue').then((r) => r.text())")
            for secret in (str(tiny_chat_dir), '"A"', '"B"', "model", "sample", "temperature"):
                assert secret not in sent, secret  # blind: the API sends texts by side only
            assert str(tiny_chat_dir) not in page.content() and "sample 2" not in page.content()
            left_before = page.inner_text("#left .text")

            key = {"left": "1", "right": "2"}
            page.keyboard.press("w")  # a tag before the pick is saved with it
            page.keyboard.press(key[side_of(order, "q1", "B")])
            page.wait_for_selector(f"body[data-last-saved='q1:{side_of(order, 'q1', 'B')}:wrong_fact']")
            page.keyboard.press("j")
            page.keyboard.press(key[side_of(order, "q2", "B")])
            page.wait_for_selector(f"body[data-last-saved='q2:{side_of(order, 'q2', 'B')}:']")
            page.keyboard.press("e")
            assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
            page.keyboard.press("Control+A")
            page.keyboard.type(EDIT)
            page.keyboard.press("Control+Enter")
            page.wait_for_selector(f"body[data-last-saved='q2:{side_of(order, 'q2', 'B')}::edited']")
            page.keyboard.press("i")  # a tag after the pick: saved again, the edit kept
            page.wait_for_selector(f"body[data-last-saved='q2:{side_of(order, 'q2', 'B')}:incomplete:edited']")
            assert page.inner_text(f"#{side_of(order, 'q2', 'B')} .text") == EDIT
            assert page.inner_text("#decision") == f"decided: {side_of(order, 'q2', 'B')} better · incomplete · edited"
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.keyboard.press("j")
            page.keyboard.press("t")
            page.wait_for_selector("body[data-last-saved='q3:tie:']")
            page.keyboard.press("j")
            page.keyboard.press(key[side_of(order, "q4", "B")])
            page.wait_for_selector(f"body[data-last-saved='q4:{side_of(order, 'q4', 'B')}:']")
            page.reload()  # the sides were drawn once: the same answer is on the left after a reload
            page.wait_for_selector("body[data-ready=true]")
            assert page.inner_text("#progress") == "4 / 4 decided" and page.inner_text("#left .text") == left_before
        # li works with the mouse, and prefers the base model's answer to q4.
        with serve(create_preference_app(cmp, "li", items)) as url:
            order_li = json.loads(order_path(cmp, "li").read_text())
            page = browser.new_page(viewport={"width": 1100, "height": 620})
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]")
            for item_id, label in (("q1", "B"), ("q2", "B"), ("q3", "tie"), ("q4", "A")):
                side = "tie" if label == "tie" else side_of(order_li, item_id, label)
                page.click(f"#pick-{side}")
                page.wait_for_selector(f"body[data-last-saved='{item_id}:{side}:']")
                page.click("#next")
        browser.close()
    wang = list(read_jsonl_log(cmp / "review" / "decisions-wang.jsonl"))
    assert [(r["id"], r["better"], r["reasons"], r["edited"]) for r in wang] == [  # every choice appended
        ("q1", side_of(order, "q1", "B"), ["wrong_fact"], None),
        ("q2", side_of(order, "q2", "B"), [], None),
        ("q2", side_of(order, "q2", "B"), [], EDIT),
        ("q2", side_of(order, "q2", "B"), ["incomplete"], EDIT),
        ("q3", "tie", [], None),
        ("q4", side_of(order, "q4", "B"), [], None),
    ]
    assert all(r["left"] == order[r["id"]] for r in wang)

    pairs = tmp_path / "pairs.jsonl"
    capsys.readouterr()
    assert data_cli(["review-apply", str(cmp), "--out", str(pairs)]) == 0
    out = capsys.readouterr().out
    assert "4 items from li, wang: 2 pairs written (1 with an edited chosen answer; chosen: B 2)" in out
    assert "dropped: 1 ties, 1 without a majority, 0 with an empty or identical side; 0 undecided" in out
    written = [json.loads(line) for line in pairs.read_text(encoding="utf-8").splitlines()]
    assert [(w["prompt"][0]["content"], w["chosen"], w["rejected"]) for w in written] == [
        ("高血压挂什么科？", items[0]["B"], items[0]["A"]),
        ("糖尿病挂什么科？", EDIT, items[1]["A"]),
    ]
    assert qilin_main(["data", "check", "--kind", "dpo", str(pairs)]) == 0
    assert "2 records" in capsys.readouterr().out

    assert data_cli(["review-stats", str(cmp)]) == 0
    out = capsys.readouterr().out
    # wang B, B, tie, B; li B, B, tie, A: 3 of 4 agree; chance (3*2 + 0*1 + 1*1) / 16 = 7/16; kappa = 5/9.
    assert "li vs wang: 4 shared items, agreement 75.0%, kappa 0.556 (on A/B/tie)" in out
    assert re.search(r"wang\s+4\s+0\s+3\s+1\s+1\s", out)  # decided, A, B, tie, edited

    cfg = DpoSettings(
        data=[str(pairs)], lora=LoraSettings(r=4, alpha=8), batch_size=2, max_steps=1, warmup_ratio=0.0,
        save_steps=100, max_length=64, learning_rate=1e-2,
    )  # fmt: skip
    ctx = stage_context(cfg, [pairs], tiny_chat_dir, ModelSettings(), tmp_path / "dpo")
    metrics = dpo.run(ctx)
    assert metrics["pairs"] == 2 and metrics["steps"] == 1
    before, after = load_file(tiny_chat_dir / "model.safetensors"), load_file(ctx.output / "model.safetensors")
    changed = [name for name in before if not torch.equal(before[name], after[name].to(before[name].dtype))]
    assert changed and all("proj" in name for name in changed)  # the LoRA targets moved, merged into the weights
