"""A client for any OpenAI-compatible chat endpoint that survives a busy or flaky server.

client = ChatClient("http://127.0.0.1:8000/v1", "qwen2-7b-instruct", concurrency=4)
text = await client.complete([{"role": "user", "content": "..."}])   # retried on 429, 5xx, dropped connections

At most `concurrency` requests are open at once. 429, 5xx, connection errors, timeouts and unusable replies are
retried with exponential backoff and jitter (a server's Retry-After is honoured); other 4xx answers are final.
After `retries` retries the call raises RequestFailed with the last error and the number of attempts.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class RetryPolicy:
    """How hard to try: retries after the first attempt, the backoff, and the per-request timeout."""

    retries: int = 5  # attempts = retries + 1
    backoff: float = 1.0  # seconds before the first retry; doubled for each further one
    max_wait: float = 60.0  # no single wait is longer, Retry-After included
    timeout: float = 120.0  # seconds for one request; long captions take a 7B model a while


class RequestFailed(Exception):
    """A request that failed for good: the last error and how many attempts were made."""

    def __init__(self, error: str, attempts: int):
        super().__init__(f"{error} (after {attempts} attempt{'s' * (attempts != 1)})")
        self.error, self.attempts = error, attempts


@dataclass
class ClientStats:
    """What the client did: HTTP attempts, retries among them, and final failures."""

    requests: int = 0
    retries: int = 0
    failed: int = 0


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_seconds(retry: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Wait before retry number `retry` (1-based): half the doubled backoff fixed, half random ("equal jitter")."""
    # Jitter spreads the retries of many workers that failed together, so they do not hit the server together again.
    ceiling = min(policy.max_wait, policy.backoff * 2 ** (retry - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def _reply_text(response: httpx.Response) -> str:
    data = response.json()
    content = data["choices"][0]["message"]["content"]
    if not isinstance(content, str):
        raise TypeError(f"message content is {type(content).__name__}")
    return content


class ChatClient:
    """Chat completions from `{endpoint}/chat/completions`, with bounded concurrency and retries."""

    def __init__(
        self,
        endpoint: str,
        model: str,
        api_key: str | None = None,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        seed: int | None = None,
    ):
        self.url = endpoint.rstrip("/") + "/chat/completions"
        self.model, self.concurrency = model, concurrency
        self.policy = policy or RetryPolicy()
        self.stats = ClientStats()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._semaphore = asyncio.Semaphore(concurrency)
        self._rng = random.Random(seed)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx.AsyncClient(timeout=self.policy.timeout, limits=limits)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def complete(self, messages: list[dict[str, str]], **params: Any) -> str:
        """The assistant's reply to `messages` (temperature 0 unless given); RequestFailed when out of retries."""
        body = {"model": self.model, "messages": messages, "temperature": 0, **params}
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                async with self._semaphore:
                    self.stats.requests += 1
                    response = await self._http.post(self.url, json=body, headers=self._headers)
                if response.status_code == 200:
                    try:
                        return _reply_text(response)
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        error = f"unusable reply ({type(e).__name__}: {e}): {response.text[:200]}"
                elif response.status_code == 429 or response.status_code >= 500:
                    error = f"HTTP {response.status_code}: {response.text[:200]}"
                    wait = retry_after_seconds(response.headers.get("retry-after"))
                else:  # 400, 401, 404...: the same request will be refused again
                    self.stats.failed += 1
                    raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}", attempt)
            except httpx.TransportError as e:  # connection refused or dropped, timeouts, protocol errors
                error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if attempt > self.policy.retries:
                self.stats.failed += 1
                raise RequestFailed(error, attempt)
            self.stats.retries += 1
            delay = backoff_seconds(attempt, self.policy, self._rng) if wait is None else wait
            await asyncio.sleep(min(delay, self.policy.max_wait))
