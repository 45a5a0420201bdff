"""The OpenAI API in full, through the official client: log-probs, n, seed, penalties, text completions with echo,
refusals that name the field, and every error in OpenAI's shape."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
import torch
from openai import BadRequestError, NotFoundError, OpenAI

from qilin.serve.engine import ChatEngine
from tests.live_server import LiveServer
from tests.serve.conftest import QUESTION


@pytest.fixture(scope="module")
def client(server: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def local_logprobs(engine: ChatEngine, ids: list[int]) -> torch.Tensor:
    """log p(ids[i] | ids[:i]) for i >= 1 under the local model, (T-1,)."""
    with torch.no_grad():
        logits = engine.model(input_ids=torch.tensor([ids])).logits[0].float()  # (T, V)
    return torch.log_softmax(logits[:-1], dim=-1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]


def test_chat_logprobs_are_the_models_own_streamed_or_not(client: OpenAI, engine: ChatEngine) -> None:
    reply = client.chat.completions.create(
        model="qilin-tiny",
        messages=QUESTION,
        max_tokens=12,
        logprobs=True,
        top_logprobs=3,
        extra_body={"return_token_ids": True},
    )
    choice = reply.choices[0]
    content = choice.logprobs.content
    assert "".join(t.token for t in content) == choice.message.content
    assert all(len(t.top_logprobs) == 3 for t in content)
    assert all(t.top_logprobs[0].logprob == t.logprob for t in content)  # greedy: the chosen token is the top one
    prompt = reply.model_extra["prompt_token_ids"]
    assert prompt == engine.prompt_ids(QUESTION, False)
    tokens = choice.model_extra["token_ids"]
    expected = local_logprobs(engine, prompt + tokens)[len(prompt) - 1 :]
    assert torch.allclose(torch.tensor([t.logprob for t in content]), expected, atol=1e-5)

    chunks = list(
        client.chat.completions.create(
            model="qilin-tiny", messages=QUESTION, max_tokens=12, logprobs=True, top_logprobs=3, stream=True
        )
    )
    streamed = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in content]


def test_n_choices_and_a_seed_that_reproduces_them(client: OpenAI) -> None:
    def ask(seed: int) -> list[str]:
        reply = client.chat.completions.create(
            model="qilin-tiny", messages=QUESTION, max_tokens=10, n=3, temperature=1.5, seed=seed
        )
        assert [c.index for c in reply.choices] == [0, 1, 2]
        return [c.message.content for c in reply.choices]

    first = ask(3)
    assert ask(3) == first  # the same seed, the same three answers
    assert len(set(first)) > 1  # sampled at temperature 1.5: the choices differ
    assert ask(4) != first


def test_frequency_penalty_breaks_a_repetition(client: OpenAI) -> None:
    def most_repeated(penalty: float) -> int:
        reply = client.completions.create(
            model="qilin-tiny",
            prompt="高血压",
            max_tokens=30,
            frequency_penalty=penalty,
            extra_body={"return_token_ids": True},
        )
        return Counter(reply.choices[0].model_extra["token_ids"]).most_common(1)[0][1]

    assert most_repeated(0.0) == 30  # the tiny model loops on one phrase token
    assert most_repeated(2.0) <= 3
    reply = client.completions.create(model="qilin-tiny", prompt="高血压", max_tokens=30, presence_penalty=2.0)
    assert reply.choices[0].text.count("胃炎应到消化内科就诊") <= 2


def test_completions_echo_gives_the_prompts_log_probs(client: OpenAI, engine: ChatEngine) -> None:
    ids = engine.prompt_ids(QUESTION, False)
    reply = client.completions.create(model="qilin-tiny", prompt=ids, max_tokens=0, echo=True, logprobs=2)
    logprobs = reply.choices[0].logprobs
    assert len(logprobs.tokens) == len(ids) and logprobs.token_logprobs[0] is None
    assert torch.allclose(torch.tensor(logprobs.token_logprobs[1:]), local_logprobs(engine, ids), atol=1e-5)
    assert all(len(top) == 2 for top in logprobs.top_logprobs[1:])
    assert reply.choices[0].text == engine.tokenizer.decode(ids)

    # echo with new tokens: the prompt's entries, then the completion's, and the text both
    both = client.completions.create(model="qilin-tiny", prompt=ids, max_tokens=5, echo=True, logprobs=0)
    assert len(both.choices[0].logprobs.tokens) == len(ids) + both.usage.completion_tokens
    assert both.choices[0].text.startswith(reply.choices[0].text)
    plain = client.completions.create(model="qilin-tiny", prompt=ids, max_tokens=5)
    assert both.choices[0].text == reply.choices[0].text + plain.choices[0].text
    streamed = client.completions.create(model="qilin-tiny", prompt=ids, max_tokens=5, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == plain.choices[0].text


def test_max_completion_tokens_bounds_the_answer(client: OpenAI) -> None:
    reply = client.chat.completions.create(model="qilin-tiny", messages=QUESTION, max_completion_tokens=1)
    assert reply.usage.completion_tokens == 1 and reply.choices[0].finish_reason == "length"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"logit_bias": {"5": 10}}, "logit_bias"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"made_up_field": 1}, "made_up_field"),
    ],
)
def test_unsupported_fields_are_refused_by_name(client: OpenAI, extra: dict, field: str) -> None:
    with pytest.raises(BadRequestError) as refused:
        client.chat.completions.create(model="qilin-tiny", messages=QUESTION, max_tokens=2, extra_body=extra)
    error = refused.value.body
    assert error["message"].startswith(f"{field}:") and error["param"] == field
    # fields that change nothing are accepted
    fine = client.chat.completions.create(
        model="qilin-tiny", messages=QUESTION, max_tokens=2, user="u1", response_format={"type": "text"}
    )
    assert fine.choices[0].message.content is not None


def test_every_error_has_openais_shape(server: LiveServer, client: OpenAI) -> None:
    for method, path, status in [("GET", "/v1/embeddings", 404), ("GET", "/v1/chat/completions", 405)]:
        response = httpx.request(method, server.url + path)
        assert response.status_code == status
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert "no route GET /v1/embeddings" in httpx.get(server.url + "/v1/embeddings").json()["error"]["message"]
    with pytest.raises(NotFoundError, match="'gpt-4' is not served here"):
        client.completions.create(model="gpt-4", prompt="x")
    with pytest.raises(BadRequestError, match="max_tokens: 0 only with echo"):
        client.completions.create(model="qilin-tiny", prompt="x", max_tokens=0)


def test_models_are_named_after_their_run_and_stage(tmp_path) -> None:
    from qilin.serve.front import served_name

    (tmp_path / "demo" / "dpo" / "model").mkdir(parents=True)
    (tmp_path / "demo" / "manifest.json").write_text("{}")
    assert served_name(tmp_path / "demo" / "dpo" / "model") == "demo-dpo"
    (tmp_path / "elsewhere" / "sft" / "model").mkdir(parents=True)
    assert served_name(tmp_path / "elsewhere" / "sft" / "model") == "sft"
    assert served_name(tmp_path / "elsewhere") == "elsewhere"


def test_a_model_is_retrieved_by_id_and_a_developer_turn_is_the_system_turn(client: OpenAI, engine: ChatEngine) -> None:
    card = client.models.retrieve("qilin-tiny")
    assert card.id == "qilin-tiny" and card.owned_by == "qilin"
    with pytest.raises(NotFoundError, match="'gpt-4' is not served here; this server serves 'qilin-tiny'"):
        client.models.retrieve("gpt-4")
    system = [{"role": "system", "content": "你是一名医生。"}, *QUESTION]
    developer = [{"role": "developer", "content": "你是一名医生。"}, *QUESTION]
    answers = [
        client.chat.completions.create(
            model="qilin-tiny", messages=m, max_tokens=8, extra_body={"return_token_ids": True}
        )
        for m in (system, developer)
    ]
    assert answers[0].model_extra["prompt_token_ids"] == answers[1].model_extra["prompt_token_ids"]
    assert answers[0].choices[0].message.content == answers[1].choices[0].message.content


def test_a_bad_content_part_is_named_by_its_place(client: OpenAI) -> None:
    audio = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]
    with pytest.raises(BadRequestError) as refused:
        client.chat.completions.create(model="qilin-tiny", messages=audio, max_tokens=2)
    assert refused.value.body["param"] == "messages.0.content.0.type"
    assert refused.value.body["message"] == "messages.0.content.0.type: Input should be 'text' or 'image_url'"
