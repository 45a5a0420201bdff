"""Evaluation through an endpoint (`qilin.models.endpoint`): the same answers, option log-probs and figures as in
process, via `qilin serve`; an endpoint without prompt log-probs is named with what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from qilin.eval.multiple_choice import ExamQuestion, evaluate_generations, generate_exam_replies
from qilin.eval.qa import QAItem, evaluate_qa, generate_answers
from qilin.models.endpoint import Endpoint
from qilin.serve.engine import ChatEngine
from qilin.serve.server import create_app
from tests.conftest import DISEASES
from tests.live_server import LiveServer


def test_qa_and_exam_by_generation_score_the_same_through_an_endpoint(tiny_chat_dir: Path) -> None:
    engine = ChatEngine(tiny_chat_dir)
    live = LiveServer(create_app(engine, "demo-sft"))
    try:
        endpoint = Endpoint(live.url, concurrency=4)
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
        assert main(["eval", "mcq", "--endpoint", live.url, "--data", str(exam)]) == 2  # log-likelihood: MODEL needed
        assert "needs MODEL, the local directory of the served model" in capsys.readouterr().err
    finally:
        live.stop()


def test_mcq_by_log_likelihood_through_an_endpoint_scores_each_option_as_in_process(
    tiny_chat_dir: Path, tmp_path: Path
) -> None:
    """Prompt log-probs (`/v1/completions`, echo) of the same token ids: each option's log-likelihood within 1e-4,
    the same choice per question by acc and acc_norm, and `qilin eval mcq MODEL --endpoint URL` prints the same
    tables as `qilin eval mcq MODEL`."""
    import json

    from qilin.cli.main import main
    from qilin.eval.multiple_choice import loglikelihood_predictions, score_options, score_options_at_endpoint
    from tests.conftest import write_jsonl

    engine = ChatEngine(tiny_chat_dir)
    live = LiveServer(create_app(engine, "demo-sft"))
    departments = [dep for _, dep, _, _ in DISEASES]
    questions = [
        ExamQuestion(
            f"{d}应到哪个科室就诊？",
            {"A": dep, "B": "眼科", "C": departments[(i + 1) % len(DISEASES)]},
            frozenset("A"),
            language=("zh", "en")[i % 2],
        )
        for i, (d, dep, _, _) in enumerate(DISEASES)
    ]
    questions.append(ExamQuestion("哪些科室看内科病？", {"A": "心内科", "B": "眼科", "C": "消化内科"}, frozenset("AC")))
    try:
        endpoint = Endpoint(live.url, concurrency=4)
        local = score_options(engine.model, engine.tokenizer, questions, batch_size=3)
        served = score_options_at_endpoint(endpoint, engine.tokenizer, questions)
        for here, there in zip(local, served, strict=True):
            assert here.keys() == there.keys()
            for letter, (ll, nchars) in here.items():
                assert there[letter][0] == pytest.approx(ll, abs=1e-4) and there[letter][1] == nchars
        assert max(-ll for scores in local for ll, _ in scores.values()) > 1  # real log-likelihoods, not zeros
        assert loglikelihood_predictions(endpoint, engine.tokenizer, questions) == loglikelihood_predictions(
            engine.model, engine.tokenizer, questions
        )

        exam = write_jsonl(
            tmp_path / "exam.jsonl",
            [{"question": q.question, "options": q.options, "answer": "".join(sorted(q.answer))} for q in questions],
        )
        outputs = {}
        for where, extra in (("local", []), ("served", ["--endpoint", live.url])):
            outputs[where] = tmp_path / f"{where}.json"
            argv = ["eval", "mcq", str(tiny_chat_dir), "--data", str(exam), *extra, "--json", str(outputs[where])]
            assert main(argv) == 0
        tables = json.loads(outputs["local"].read_text())
        assert json.loads(outputs["served"].read_text()) == tables and tables["acc"]["all"]["n"] == len(questions)
    finally:
        live.stop()


def test_an_endpoint_without_prompt_log_probs_is_named_and_generation_suggested(
    tiny_chat_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from fastapi import FastAPI

    from qilin.cli.main import main
    from tests.conftest import write_jsonl

    chat_only = FastAPI()  # an endpoint with chat completions only, as some gateways are: /v1/completions is a 404
    chat_only.get("/v1/models")(lambda: {"object": "list", "data": [{"id": "gateway-model", "object": "model"}]})
    live = LiveServer(chat_only)
    question = {"question": "高血压挂什么科？", "options": {"A": "心内科", "B": "眼科"}, "answer": "A"}
    exam = write_jsonl(tmp_path / "exam.jsonl", [question])
    try:
        capsys.readouterr()
        assert (
            main(["eval", "mcq", str(tiny_chat_dir), "--data", str(exam), "--endpoint", live.url, "--concurrency", "2"])
            == 2
        )
        error = capsys.readouterr().err
        assert f"{live.url}/v1 offers no prompt log-probs" in error and "answered 404" in error
        assert "score by generation instead: --mode generate" in error
    finally:
        live.stop()


def test_a_busy_endpoint_is_asked_again_and_a_refusal_names_the_url() -> None:
    """503 with Retry-After twice, then an answer: the reply arrives; a 400 is not retried and is reported whole."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from qilin.models.endpoint import EndpointError

    calls: list[str] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    def chat(body: dict) -> JSONResponse:
        calls.append(body["messages"][0]["content"])
        if body["messages"][0]["content"] == "bad":
            return JSONResponse({"error": {"message": "messages: too long"}}, status_code=400)
        if len(calls) <= 2:
            return JSONResponse({"error": {"message": "busy"}}, status_code=503, headers={"Retry-After": "0"})
        return JSONResponse({"choices": [{"message": {"content": " 心内科。 "}}]})

    live = LiveServer(app)
    try:
        endpoint = Endpoint(live.url, "gateway-model", concurrency=1)
        assert endpoint.replies([[{"role": "user", "content": "q"}]], 8) == ["心内科。"] and len(calls) == 3
        with pytest.raises(EndpointError, match=rf"{live.url}/v1/chat/completions answered 400: .*too long"):
            endpoint.replies([[{"role": "user", "content": "bad"}]], 8)
        assert calls.count("bad") == 1
    finally:
        live.stop()
