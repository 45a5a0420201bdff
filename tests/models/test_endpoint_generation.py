"""Generation-based evaluation through an endpoint: the same answers and figures as in process, via `qilin serve`."""

from __future__ import annotations

from pathlib import Path

from qilin.eval.cmexam import ExamQuestion, evaluate_generations, generate_exam_replies
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


def test_eval_qa_from_the_command_line_through_an_endpoint(tiny_chat_dir: Path, tmp_path: Path, capsys) -> None:
    import json

    from qilin.cli import main

    data = tmp_path / "qa.jsonl"
    rows = [{"question": f"{d}挂什么科？", "answer": f"{d}应到{dep}就诊。"} for d, dep, _, _ in DISEASES]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    live = LiveServer(create_app(ChatEngine(tiny_chat_dir), "demo-sft"))
    try:
        served, local = tmp_path / "served.json", tmp_path / "local.json"
        assert main(["eval", "qa", "--endpoint", f"{live.url}/v1", "--data", str(data), "--max-new-tokens", "16",
                     "--json", str(served)]) == 0  # fmt: skip
        assert main(["eval", "qa", str(tiny_chat_dir), "--data", str(data), "--max-new-tokens", "16", "--batch-size",
                     "1", "--json", str(local)]) == 0  # fmt: skip
        assert json.loads(served.read_text()) == json.loads(local.read_text())
        capsys.readouterr()
        exam = tmp_path / "exam.jsonl"
        question = {"question": "高血压挂什么科？", "options": {"A": "心内科", "B": "呼吸内科"}, "answer": "A"}
        exam.write_text(json.dumps(question, ensure_ascii=False) + "\n", encoding="utf-8")
        assert main(["eval", "mcq", "--endpoint", live.url, "--data", str(exam), "--mode", "loglik"]) == 2
        assert "--endpoint scores by generation (--mode generate)" in capsys.readouterr().err
    finally:
        live.stop()
