"""`qilin eval parity`: a server of the same model passes; another stage's weights, or another chat template, fail
with a message naming the check that broke."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qilin.chat_templates import NAMED_TEMPLATES
from qilin.cli import main
from qilin.serve.engine import ChatEngine
from qilin.serve.parity import _completion_ids, run_parity
from qilin.serve.server import create_app
from tests.live_server import LiveServer


def served(model_dir: Path) -> LiveServer:
    return LiveServer(create_app(ChatEngine(model_dir), "stage"))


def test_the_same_model_passes(server: LiveServer, tiny_chat_dir: Path, tmp_path: Path, capsys) -> None:
    report_file = tmp_path / "parity.json"
    code = main(["eval", "parity", str(tiny_chat_dir), "--endpoint", f"{server.url}/v1", "--json", str(report_file)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS  template: the endpoint's prompt tokens equal training's on 5 of 5 prompts" in out
    assert "verdict (float32 thresholds): parity holds" in out
    report = run_parity(str(tiny_chat_dir), server.url)
    assert report.figures["agreement"] == 1.0
    assert report.figures["max_delta"] < 1e-4  # the same weights in the same dtype: rounding only
    assert report.figures["tokens"] > 200  # completion and prompt (echo) log-probs both compared
    assert '"passed": true' in report_file.read_text(encoding="utf-8")


def parity_against(served_dir: Path, model_dir: Path, capsys) -> tuple[int, str]:
    """`qilin eval parity model_dir` against a server of served_dir: its exit code and printout."""
    live = served(served_dir)
    try:
        code = main(["eval", "parity", str(model_dir), "--endpoint", live.url])
    finally:
        live.stop()
    return code, capsys.readouterr().out


def test_another_stage_fails_on_tokens_and_log_probs(tiny_model_dir: Path, tiny_chat_dir: Path, capsys) -> None:
    # the base the SFT model was tuned from: same tokenizer, other weights
    code, out = parity_against(tiny_model_dir, tiny_chat_dir, capsys)
    assert code == 1
    assert "PASS  template" in out
    assert "FAIL  greedy agreement" in out and "FAIL  log-probs" in out
    assert "parity FAILS (greedy agreement, log-probs)" in out


def test_another_chat_template_fails_the_template_check(tiny_chat_dir: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "vicuna"
    shutil.copytree(tiny_chat_dir, other)
    (other / "chat_template.jinja").write_text(NAMED_TEMPLATES["vicuna"], encoding="utf-8")
    code, out = parity_against(other, tiny_chat_dir, capsys)  # the same weights behind another template
    assert code == 1
    assert "FAIL  template: the endpoint's prompt tokens equal training's on 0 of 5 prompts; prompt 0: first " in out
    assert "parity FAILS (template" in out


@pytest.mark.parametrize(
    ("choice", "ids"),
    [
        ({"token_ids": [5, 6]}, [5, 6]),
        ({"logprobs": {"content": [{"token": "token_id:7"}, {"token": "token_id:9"}]}}, [7, 9]),
    ],
)
def test_completion_ids_are_read_as_each_server_offers_them(choice: dict, ids: list[int]) -> None:
    assert _completion_ids(choice, tokenizer=None) == ids
