"""The chat client against the faulty stand-in LLM: Retry-After, refused connections, final 4xx answers."""

from __future__ import annotations

import asyncio
import time

import pytest

from qilin.curation.llm_client import ChatClient, RequestFailed, RetryPolicy, retry_after_seconds

from .fake_llm import FakeLLM, serve


def test_retry_after_is_honoured_over_a_long_backoff() -> None:
    fake = FakeLLM(script={"Chest X-ray.": ["429", "429"]})

    async def ask(url: str) -> str:
        client = ChatClient(url + "/v1", "fake", policy=RetryPolicy(retries=2, backoff=30.0))
        try:
            return await client.complete(
                [{"role": "system", "content": ""}, {"role": "user", "content": "Chest X-ray."}]
            )
        finally:
            await client.aclose()

    with serve(fake) as url:
        start = time.monotonic()
        assert asyncio.run(ask(url)) == "胸部X线片。"
        assert time.monotonic() - start < 5  # Retry-After: 0 twice, not 15-30 s + 30-60 s of backoff
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None


def test_a_refused_connection_is_retried_and_a_4xx_is_not() -> None:
    async def ask(endpoint: str) -> None:
        client = ChatClient(endpoint, "fake", policy=RetryPolicy(retries=1, backoff=0.01, timeout=1))
        try:
            await client.complete([{"role": "user", "content": "x"}])
        finally:
            await client.aclose()

    with pytest.raises(RequestFailed, match=r"ConnectError.*after 2 attempts"):
        asyncio.run(ask("http://127.0.0.1:9/v1"))  # nothing listens on port 9 (discard)
    with serve(FakeLLM()) as url, pytest.raises(RequestFailed, match=r"HTTP 404.*after 1 attempt\)"):
        asyncio.run(ask(url + "/wrong"))  # the same request would be refused again
