"""PMC-VQA evaluation: generations map to the closest choice, open answers score recall, `qilin eval vqa` runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.eval.vqa import closest_choice, open_ended_scores
from tests.vl_files import Scans, pmcvqa_csv, scan_set


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return scan_set(tmp_path_factory.mktemp("scans"), 16, seed=5)


def test_generations_map_to_the_closest_choice_and_open_answers_score_recall() -> None:
    choices = {"A": "左侧", "B": "右侧", "C": "双侧", "D": "正中"}
    assert closest_choice("病灶位于右侧。", choices) == "B"
    assert closest_choice("C", choices) == "C"
    recall, f1 = open_ended_scores("右肺上叶结节", "右肺结节")
    assert recall == 1.0 and f1 == pytest.approx(2 * (4 / 6) / (1 + 4 / 6))  # 4 of 4 reference, 4 of 6 reply chars


def test_eval_vqa_from_the_command_line(tiny_vl_dir: Path, scans, tmp_path: Path) -> None:
    from qilin.cli import main

    out, _ = scans
    csv_path = pmcvqa_csv(scans, tmp_path / "test.csv", 6)
    result = tmp_path / "vqa.json"
    assert (
        main(["eval", "vqa", str(tiny_vl_dir), "--data", str(csv_path), "--images", str(out), "--json", str(result)])
        == 0
    )
    tables = json.loads(result.read_text())
    assert tables["loglik"]["all"]["n"] == 6 and tables["loglik"]["Type=modality"]["n"] == 6
    assert 0 <= tables["generate"]["all"]["accuracy"] <= 100


@pytest.fixture(scope="module")
def chatty_vl_dir(tiny_chat_dir: Path, vision_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VL model on the SFT'd tiny model: it says something (the untrained tiny VL model ends its turn at once)."""
    from tests.conftest import save_vl_model

    return save_vl_model(tiny_chat_dir, vision_dir, tmp_path_factory.mktemp("chatty_vl") / "model")


def test_vqa_through_an_endpoint_gives_the_in_process_replies_and_figures(
    chatty_vl_dir: Path, scans, tmp_path: Path
) -> None:
    """`qilin serve` of a VL model, asked with the image as a data URL part: the replies `generate_vl_texts` gives in
    process, so the same generation and open-ended figures, and `qilin eval vqa --endpoint` writes them."""
    from qilin.cli import main
    from qilin.data.vision.dataset import image_pixels, vl_prompt_ids
    from qilin.data.vision.formats import choice_prompt
    from qilin.eval.vqa import endpoint_messages, evaluate_vqa, load_questions
    from qilin.models.endpoint import Endpoint
    from qilin.models.generation import generate_vl_texts
    from qilin.serve.engine import ChatEngine
    from qilin.serve.server import create_app
    from tests.live_server import LiveServer

    out, _ = scans
    csv_path = pmcvqa_csv(scans, tmp_path / "test.csv", 6)
    questions = load_questions(csv_path, out)
    engine = ChatEngine(chatty_vl_dir)
    model, tokenizer = engine.model, engine.tokenizer
    live = LiveServer(create_app(engine, "demo-vl"))
    try:
        endpoint = Endpoint(live.url, concurrency=3)
        served = endpoint.replies([endpoint_messages(q) for q in questions], 16)
        prompts = [
            vl_prompt_ids(tokenizer, [{"role": "user", "content": choice_prompt(q)}], model.config.image_token_index,
                          model.num_image_tokens)
            for q in questions
        ]  # fmt: skip
        local = [
            generate_vl_texts(model, tokenizer, [ids], image_pixels(engine.processor, [q.image]), 16)[0]
            for ids, q in zip(prompts, questions, strict=True)
        ]
        assert served == local and any(served)

        in_process = evaluate_vqa(model, tokenizer, engine.processor, questions, batch_size=1)
        through = evaluate_vqa(endpoint, None, None, questions)
        assert "loglik" not in through and "loglik" not in through["correct"]  # no prompt log-probs with an image
        assert {k: v for k, v in in_process.items() if k != "loglik"} | {"correct": in_process["correct"]} == {
            **through,
            "correct": in_process["correct"],
        }
        assert through["correct"]["generate"] == in_process["correct"]["generate"]

        result = tmp_path / "vqa.json"
        argv = ["eval", "vqa", "--endpoint", live.url, "--data", str(csv_path), "--images", str(out)]
        assert main([*argv, "--json", str(result)]) == 0
        tables = json.loads(result.read_text())
        assert {group: row.pop("ci95") and row for group, row in tables["generate"].items()} == in_process["generate"]
        assert tables["open_f1"] == in_process["open_f1"] and "loglik" not in tables
        assert tables["generate"]["Type=modality"]["n"] == 6
    finally:
        live.stop()
