"""The chat page of `qilin serve`, driven in a real headless Chromium: ask, see the streamed answer, screenshot."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from qilin.serve.chat import generate_reply
from qilin.serve.engine import ChatEngine
from qilin.serve.server import create_app

from .conftest import corpus_lines
from .live_server import LiveServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Where a person looks after `make test`: the page as the browser showed it.
SCREENSHOT = Path(__file__).resolve().parent.parent / "runs" / "screenshots" / "web_chat.png"
# Chromium in a closed network: no background connections, no sandbox as root (the flags the env docs name).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")


def test_web_page_sends_a_question_shows_the_answer_and_the_retrieved_passages(
    tiny_chat_dir: Path, tmp_path: Path
) -> None:
    from qilin.rag.index import build_index, load_index

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines()), encoding="utf-8")
    retriever = load_index(build_index([corpus], tmp_path / "index"))
    live = LiveServer(create_app(ChatEngine(tiny_chat_dir), "qilin-tiny", retriever=retriever))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.goto(live.url)
            page.wait_for_selector("#model:has-text('qilin-tiny')")
            assert "RAG" in page.inner_text("#model")
            page.fill("#max-tokens", "16")
            page.fill("#question", "高血压挂什么科？")
            page.click("#send")
            page.wait_for_selector("[data-testid=answer][data-done=true]", timeout=60_000)
            answer = page.inner_text("[data-testid=answer]")
            passages = page.inner_text("[data-testid=passages]")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            browser.close()
    finally:
        live.stop()
    engine = ChatEngine(tiny_chat_dir)
    expected = generate_reply(engine.model, engine.tokenizer, [{"role": "user", "content": "高血压挂什么科？"}], 16)
    assert answer == expected and re.fullmatch(r".+应到.+就诊。", answer)  # the tuned model's answer, streamed in
    assert "高血压" in passages  # BM25 found the passages about the asked disease and the page shows them
    assert SCREENSHOT.stat().st_size > 10_000
