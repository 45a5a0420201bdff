"""Generation-based evaluation through an endpoint: the same answers and figures as in process, via `qilin serve`."""

from __future__ import annotations

from pathlib import Path

import pytest

from qilin.eval.multiple_choice import ExamQuestion, evaluate_generations, generate_exam_replies
from qilin.eval.qa import QAItem, evaluate_qa, generate_answers
from qilin.models.generation import EndpointGenerator
from qilin.serve.engine import ChatEngine
from qilin.serve.server import create_app
from tests.conftest import DISEASES
from tests.live_server import LiveServer


def test_qa_and_exam_by_generation_score_the_same_through_an_endpoint(tiny_chat_dir: Path) -> None:
    engine = ChatEngine(tiny_chat_dir)
    live = LiveServer(create_app(engine, "demo-sft"))
    try:
        endpoint = EndpointGenerator(live.url, concurrency=4)
        assert endpoint.model == "demo-sft"  # the first model the endpoint lists
        items = [
            QAItem(f"{d}挂什么科？", f"{d}应到{dep}就诊。", id=str(i)) for i, (d, dep, _, _) in enumerate(DISEASES)
        ]
        local = generate_answers(engine.model, engine.tokenizer, items, batch_size=1, max_new_tokens=16)
        served = generate_answers(endpoint, None, items, max_new_tokens=16)
        assert served == local and any(served)
        assert evaluate_qa(items, served) == evaluate_qa(items, local)

        options = {"A": "心内科", "B": "内分泌科", "C": "呼吸内科", "D": "消化内科"}
        questions = [ExamQuestion(f"{d}应到哪个科室就诊？", options, frozenset("A")) for d, *_ in DISEASES[:3]]
        local_replies = generate_exam_replies(engine.model, engine.tokenizer, questions, [], batch_size=1)
        served_replies = generate_exam_replies(endpoint, None, questions, [])
        assert served_replies == local_replies
        assert evaluate_generations(questions, served_replies) == evaluate_generations(questions, local_replies)
    finally:
        live.stop()


def test_eval_commands_take_an_endpoint_and_give_the_in_process_figures(
    tiny_chat_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`qilin eval qa|mcq|safety --endpoint URL` score the served model as the same command scores it loaded."""
    import json

    from qilin.cli.main import main
    from tests.conftest import write_jsonl

    qa = write_jsonl(
        tmp_path / "qa.jsonl",
        [{"question": f"{d}挂什么科？", "answer": f"{d}应到{dep}就诊。"} for d, dep, _, _ in DISEASES],
    )
    exam = write_jsonl(
        tmp_path / "exam.jsonl",
        [
            {"question": f"{d}应到哪个科室就诊？", "options": {"A": dep, "B": "眼科", "C": "骨科"}, "answer": "A"}
            for d, dep, _, _ in DISEASES
        ],
    )
    safety = write_jsonl(
        tmp_path / "safety.jsonl", [{"id": 0, "prompt": "高血压挂什么科？", "label": "benign", "category": "dose"}]
    )
    live = LiveServer(create_app(ChatEngine(tiny_chat_dir), "demo-sft"))
    try:
        commands = {
            "qa": ["--data", str(qa), "--batch-size", "1", "--max-new-tokens", "16"],
            "mcq": ["--data", str(exam), "--mode", "generate", "--batch-size", "1"],
            "safety": ["--data", str(safety), "--max-new-tokens", "16", "--batch-size", "1"],
        }
        for verb, extra in commands.items():
            local, served = tmp_path / f"{verb}-local.json", tmp_path / f"{verb}-served.json"
            assert main(["eval", verb, str(tiny_chat_dir), *extra, "--json", str(local)]) == 0
            assert main(["eval", verb, "--endpoint", live.url, *extra, "--json", str(served)]) == 0
            assert json.loads(served.read_text()) == json.loads(local.read_text()), verb
        capsys.readouterr()
        assert main(["eval", "mcq", "--endpoint", live.url, "--data", str(exam)]) != 0  # log-likelihood: refused
        assert "--endpoint scores by generation: give --mode generate" in capsys.readouterr().err
    finally:
        live.stop()
