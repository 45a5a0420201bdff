"""The chat client against the faulty stand-in LLM: Retry-After, unusable replies, refused connections, final 4xx."""

from __future__ import annotations

import asyncio
import time

import pytest

from qilin.curation.llm_client import ChatClient, EndpointRefused, RequestFailed, RetryPolicy, retry_after_seconds

from .fake_llm import FakeLLM, serve

TEXT = "Chest X-ray."
MESSAGES = [{"role": "system", "content": ""}, {"role": "user", "content": TEXT}]


def ask(endpoint: str, policy: RetryPolicy, model: str = "fake", api_key: str | None = None) -> tuple[str, ChatClient]:
    """The reply to MESSAGES and the client that got it (its stats)."""

    async def run() -> tuple[str, ChatClient]:
        client = ChatClient(endpoint, model, api_key, policy=policy)
        try:
            return await client.complete(MESSAGES), client
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_retry_after_is_honoured_and_one_the_openai_client_will_not_wait_for_is_ours() -> None:
    # The tests' openai backoff is 10-50 ms (conftest): 2 x 0.3 s of waiting can only be the server's Retry-After.
    fake = FakeLLM(script={TEXT: ["429:0.3", "429:0.3"]})
    with serve(fake) as url:
        start = time.monotonic()
        reply, client = ask(url + "/v1", RetryPolicy(retries=2))
        assert reply == "胸部X线片。" and 0.6 <= time.monotonic() - start < 5
        assert (client.stats.requests, client.stats.retries) == (3, 2)

        # An hour is past what the openai client waits (it gives up at once); we retry after at most max_wait.
        fake.script[TEXT] = ["429:3600", "500"]
        start = time.monotonic()
        reply, client = ask(url + "/v1", RetryPolicy(retries=2, max_wait=0.1))
        assert reply == "胸部X线片。" and time.monotonic() - start < 5
        assert (client.stats.requests, client.stats.retries) == (3, 2)
        assert [e["outcome"] for e in fake.log[-3:]] == ["429:3600", "500", "ok"]

        fake.script[TEXT] = ["429:3600"] * 3
        with pytest.raises(RequestFailed, match=r"HTTP 429: rate limited \(after 2 attempts\)"):
            ask(url + "/v1", RetryPolicy(retries=1, max_wait=0.01))
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None


def test_an_unusable_reply_is_retried_which_the_openai_client_does_not() -> None:
    fake = FakeLLM(script={TEXT: ["empty", "empty"]})  # a 200 without choices: a success to the openai client
    with serve(fake) as url:
        reply, client = ask(url + "/v1", RetryPolicy(retries=2, backoff=0.01))
        assert reply == "胸部X线片。" and (client.stats.requests, client.stats.retries) == (3, 2)
        fake.script[TEXT] = ["empty", "empty"]
        with pytest.raises(RequestFailed, match=r"unusable reply \(IndexError.*after 2 attempts"):
            ask(url + "/v1", RetryPolicy(retries=1, backoff=0.01))


def test_a_refused_connection_is_retried_and_a_4xx_is_not() -> None:
    policy = RetryPolicy(retries=1, timeout=1)
    with pytest.raises(RequestFailed, match=r"ConnectError.*after 2 attempts"):
        ask("http://127.0.0.1:9/v1", policy)  # nothing listens on port 9 (discard)
    fake = FakeLLM(script={TEXT: ["400"]}, models={"fake"}, api_key="secret")
    with serve(fake) as url:
        with pytest.raises(RequestFailed, match=r"HTTP 400: prompt too long \(after 1 attempt\)"):
            ask(url + "/v1", policy, api_key="secret")  # this text would be refused again; another might not
        # Refusals of every request: a wrong URL, model or key.
        with pytest.raises(EndpointRefused, match=r"/wrong/chat/completions answered HTTP 404: not found"):
            ask(url + "/wrong", policy, api_key="secret")
        with pytest.raises(EndpointRefused, match=r"HTTP 404: The model `qwen` does not exist\."):
            ask(url + "/v1", policy, model="qwen", api_key="secret")
        with pytest.raises(EndpointRefused, match=r"HTTP 401: Incorrect API key provided\."):
            ask(url + "/v1", policy, api_key="wrong")
        with pytest.raises(EndpointRefused, match=r"HTTP 401"):
            ask(url + "/v1", policy)  # no key: no Authorization header at all
    assert [e["outcome"] for e in fake.log] == ["400", "404", "401", "401"]  # /wrong never reached the fake's log


def test_after_a_refusal_no_further_request_is_sent() -> None:
    fake = FakeLLM(models={"fake"})

    async def run(url: str) -> list[BaseException | str]:
        client = ChatClient(url + "/v1", "qwen", concurrency=2)
        try:
            return await asyncio.gather(*(client.complete(MESSAGES) for _ in range(10)), return_exceptions=True)
        finally:
            await client.aclose()

    with serve(fake) as url:
        results = asyncio.run(run(url))
    assert all(isinstance(r, EndpointRefused) for r in results)
    assert len(fake.log) <= 2  # the requests open when the first refusal came back; none after it
