"""`qilin serve --engine openai:URL|vllm`: Qilin's front before another OpenAI-compatible server, gated by parity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from openai import BadRequestError, OpenAI

from qilin.chat_templates import NAMED_TEMPLATES
from qilin.serve.engine import ChatEngine
from qilin.serve.front import ServerLimits
from qilin.serve.proxy import front_for_engine
from qilin.serve.server import create_app
from qilin.serve.vllm import vllm_command
from tests.live_server import LiveServer
from tests.serve.conftest import QUESTION


def test_openai_engine_puts_the_front_before_a_running_server(server: LiveServer, tiny_chat_dir: Path) -> None:
    limits = ServerLimits(max_tokens=32, max_pending=4)
    app, stop = front_for_engine(f"openai:{server.url}", str(tiny_chat_dir), "demo-sft", limits)
    front = LiveServer(app)
    try:
        client = OpenAI(base_url=f"{front.url}/v1", api_key="unused", max_retries=0)
        backend = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["demo-sft"]
        reply = client.chat.completions.create(model="demo-sft", messages=QUESTION, max_tokens=12, logprobs=True)
        direct = backend.chat.completions.create(model="qilin-tiny", messages=QUESTION, max_tokens=12, logprobs=True)
        assert reply.model == "demo-sft"
        assert reply.choices[0].message.content == direct.choices[0].message.content
        assert [t.logprob for t in reply.choices[0].logprobs.content] == [
            t.logprob for t in direct.choices[0].logprobs.content
        ]
        streamed = list(client.chat.completions.create(model="demo-sft", messages=QUESTION, max_tokens=12, stream=True))
        assert (
            "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == reply.choices[0].message.content
        )
        assert {c.model for c in streamed} == {"demo-sft"}  # every chunk under the front's name, not the backend's
        echo = client.completions.create(model="demo-sft", prompt=[5, 60, 70], max_tokens=0, echo=True, logprobs=1)
        assert echo.choices[0].logprobs.token_logprobs[0] is None and len(echo.choices[0].logprobs.tokens) == 3
        # the front's own limits and refusals, before the backend sees anything
        with pytest.raises(BadRequestError, match="over this server's limit of 32"):
            client.chat.completions.create(model="demo-sft", messages=QUESTION, max_tokens=60)
        with pytest.raises(BadRequestError, match="tools: tool calls are not supported"):
            client.chat.completions.create(model="demo-sft", messages=QUESTION, tools=[{"type": "function",
                                           "function": {"name": "f", "parameters": {}}}])  # fmt: skip
        health = httpx.get(f"{front.url}/health").json()
        assert health["engine"] == "openai" and health["backend_model"] == "qilin-tiny" and health["pending"] == 0
        assert health["forwarded"] == 3  # chat, stream, echo: the refused ones never left the front
    finally:
        front.stop()
        stop()


def test_a_backend_with_another_template_is_refused_unless_overridden(tiny_chat_dir: Path, tmp_path: Path,
                                                                      capsys) -> None:  # fmt: skip
    other = tmp_path / "vicuna"
    shutil.copytree(tiny_chat_dir, other)
    (other / "chat_template.jinja").write_text(NAMED_TEMPLATES["vicuna"], encoding="utf-8")
    backend = LiveServer(create_app(ChatEngine(other), "vicuna"))
    try:
        with pytest.raises(ValueError, match=r"does not render prompts with .* training chat template"):
            front_for_engine(f"openai:{backend.url}/v1", str(tiny_chat_dir), "demo-sft", ServerLimits())
        app, _ = front_for_engine(f"openai:{backend.url}", str(tiny_chat_dir), "demo-sft", ServerLimits(),
                                  allow_template_mismatch=True)  # fmt: skip
        assert "STARTING ANYWAY (--allow-template-mismatch)" in capsys.readouterr().err
        assert app is not None
    finally:
        backend.stop()


def test_vllm_command_passes_the_training_template_and_the_stage_name(tiny_chat_dir: Path, tmp_path: Path) -> None:
    template = tmp_path / "chat_template.jinja"
    command = vllm_command(tiny_chat_dir, "demo-sft", 8011, template, dtype="bfloat16")
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(command)
    assert f"--model {tiny_chat_dir} --served-model-name demo-sft" in joined
    assert f"--chat-template {template} --host 127.0.0.1 --port 8011 --dtype bfloat16" in joined
    assert "--enable-lora" not in command

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/m/base", "r": 8}))
    command = vllm_command(adapter, "demo-sft", 8011, template, extra=["--gpu-memory-utilization", "0.8"])
    joined = " ".join(command)
    assert "--model /m/base --served-model-name demo-sft-base --enable-lora" in joined
    assert f"--lora-modules demo-sft={adapter} --max-lora-rank 8" in joined
    assert "--tokenizer /m/base" in joined  # the adapter saved no tokenizer: the base's template and tokens
    assert command[-2:] == ["--gpu-memory-utilization", "0.8"]


def test_an_unknown_engine_is_refused(tiny_chat_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown engine 'tgi'; engines: hf, vllm, openai:URL"):
        front_for_engine("tgi", str(tiny_chat_dir), "x", ServerLimits())


def test_backend_errors_and_our_own_failures_answer_in_openais_shape() -> None:
    """vLLM's older top-level error, a gateway's HTML page and an exception of ours all reach the client as
    {"error": {"message", "type", "param", "code"}}; an error already in that shape passes unchanged."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, PlainTextResponse
    from fastapi.testclient import TestClient

    from qilin.serve.front import new_front
    from qilin.serve.proxy import create_proxy_app

    answers = {
        "chat/completions": JSONResponse(
            {"object": "error", "message": "too long", "type": "BadRequestError", "param": "messages", "code": 400},
            status_code=400,
        ),
        "completions": PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502),
    }
    backend = FastAPI()
    backend.post("/v1/{route:path}")(lambda route: answers[route])
    live = LiveServer(backend)
    try:
        front = LiveServer(create_proxy_app(f"{live.url}/v1", "demo-sft", backend_name="backend-model"))
        chat = httpx.post(f"{front.url}/v1/chat/completions", json={"model": "demo-sft", "messages": QUESTION})
        text = httpx.post(f"{front.url}/v1/completions", json={"model": "demo-sft", "prompt": "x"})
        front.stop()
        assert chat.status_code == 400
        assert chat.json() == {"error": {"message": "the backend answered 400: too long", "type":
                               "invalid_request_error", "param": "messages", "code": 400}}  # fmt: skip
        assert text.status_code == 502 and text.json()["error"]["type"] == "server_error"
        assert "502 Bad Gateway" in text.json()["error"]["message"]
    finally:
        live.stop()

    app = new_front("t", ServerLimits(), None, dict)
    app.get("/v1/boom")(lambda: 1 / 0)
    boom = TestClient(app, raise_server_exceptions=False).get("/v1/boom")
    assert boom.status_code == 500
    assert boom.json()["error"] == {"message": "internal error: ZeroDivisionError: division by zero",
                                    "type": "server_error", "param": None, "code": 500}  # fmt: skip
