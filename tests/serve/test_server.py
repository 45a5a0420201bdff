"""`qilin serve`: the official openai client against a live server on loopback, refusals, batching, load."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from qilin.serve.chat import generate_reply
from qilin.serve.engine import ChatEngine
from qilin.serve.loadtest import load_test
from qilin.serve.server import ServerLimits, create_app
from tests.live_server import LiveServer
from tests.serve.conftest import QUESTION


def post(server: LiveServer, body: object) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {"content-type": "application/json"}
    return httpx.post(f"{server.url}/v1/chat/completions", content=content, headers=headers, timeout=60)


def test_openai_client_chat_and_stream_match_the_training_template(server: LiveServer, engine: ChatEngine) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    assert [m.id for m in client.models.list().data] == ["qilin-tiny"]
    reply = client.chat.completions.create(model="qilin-tiny", messages=QUESTION, max_tokens=12)
    text = reply.choices[0].message.content
    assert re.fullmatch(r".+应到.+就诊。", text)  # the SFT data's answer shape, ended by the template's end of turn
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == len(engine.prompt_ids(QUESTION, False))
    assert 0 < reply.usage.completion_tokens <= 12
    # the same greedy answer `qilin chat` gives: same template, same model
    assert text.strip() == generate_reply(engine.model, engine.tokenizer, QUESTION, max_new_tokens=12)
    chunks = list(client.chat.completions.create(model="qilin-tiny", messages=QUESTION, max_tokens=12, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == reply.choices[0].finish_reason
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # really streamed


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ("{not json", 400, "not valid JSON"),
        ({"model": "gpt-4", "messages": QUESTION}, 404, "'gpt-4' is not served here"),
        ({"model": "qilin-tiny"}, 400, "messages: Field required"),
        ({"model": "qilin-tiny", "messages": [{"role": "doctor", "content": "x"}]}, 400, "messages.0.role"),
        ({"model": "qilin-tiny", "messages": QUESTION, "max_tokens": 100}, 400, "over this server's limit of 64"),
        ({"model": "qilin-tiny", "messages": [{"role": "user", "content": "高血压" * 400}]}, 400, "context"),
        ({"model": "qilin-tiny", "messages": QUESTION, "n": 9}, 400, "n:"),
        (
            {"model": "qilin-tiny", "messages": QUESTION, "stop": list("abcde")},
            400,
            "stop: Value should have at most 4 items",
        ),
        (
            {
                "model": "qilin-tiny",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}
                ],
            },
            400,
            "does not fetch URLs or read files",
        ),
        (
            {
                "model": "qilin-tiny",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}],
                    }
                ],
            },
            400,
            "not a readable image",
        ),
        ("x" * 300_000, 413, "over 200000 bytes"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_why(server: LiveServer, body: object, status: int, says: str) -> None:
    response = post(server, body)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]["message"]
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"  # and the server lives on


def test_api_key_is_required_when_set(engine: ChatEngine) -> None:
    live = LiveServer(create_app(engine, "qilin-tiny", api_key="s3cret"))
    try:
        assert httpx.get(f"{live.url}/v1/models").status_code == 401
        assert httpx.get(f"{live.url}/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = OpenAI(base_url=f"{live.url}/v1", api_key="s3cret").chat.completions.create(
            model="qilin-tiny", messages=QUESTION, max_tokens=4
        )
        assert ok.choices[0].message.content is not None
        assert httpx.get(f"{live.url}/health").status_code == 200  # health checks need no key
    finally:
        live.stop()


def test_200_concurrent_requests_are_answered_or_refused_with_503(engine: ChatEngine) -> None:
    live = LiveServer(create_app(engine, "qilin-tiny", ServerLimits(max_pending=48, max_batch=8)))
    try:
        result = load_test(live.url, "qilin-tiny", n=200, max_tokens=8)
        health = httpx.get(f"{live.url}/health").json()
    finally:
        live.stop()
    print(f"{result.summary()}, largest batch {health['largest_batch']}")
    codes = result.statuses
    assert not result.errors and set(codes) <= {200, 503} and sum(codes.values()) == 200  # none lost or crashed
    assert codes.get(200, 0) >= 48 and codes.get(503, 0) > 0  # the bound held: the queue filled and refused
    assert result.incomplete == 0
    assert health["pending"] == 0  # every admitted request released its slot
    assert health["largest_batch"] > 1  # requests were generated together


def _png_data_url() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (120, 10, 200)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_vl_model_answers_about_png_and_dicom_images(tmp_path: Path, tiny_vl_dir: Path) -> None:
    import pydicom.data

    live = LiveServer(create_app(ChatEngine(tiny_vl_dir), "qilin-vl", ServerLimits(max_image_pixels=128 * 128)))
    dicom = Path(pydicom.data.get_testdata_file("CT_small.dcm")).read_bytes()
    try:
        client = OpenAI(base_url=f"{live.url}/v1", api_key="unused")
        for url in (_png_data_url(), "data:application/dicom;base64," + base64.b64encode(dicom).decode()):
            content = [{"type": "text", "text": "这是什么检查？"}, {"type": "image_url", "image_url": {"url": url}}]
            reply = client.chat.completions.create(
                model="qilin-vl", messages=[{"role": "user", "content": content}], max_tokens=6
            )
            assert reply.usage.completion_tokens > 0
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (200, 200)).save(buffer, format="PNG")
        big = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        content = [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": big}}]
        response = post(live, {"model": "qilin-vl", "messages": [{"role": "user", "content": content}]})
        assert response.status_code == 413, response.text
        assert "more than the limit of 16384" in response.json()["error"]["message"]
    finally:
        live.stop()
    shutil.rmtree(tmp_path, ignore_errors=True)
