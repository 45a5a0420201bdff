"""A client for any OpenAI-compatible chat endpoint that survives a busy or flaky server.

client = ChatClient("http://127.0.0.1:8000/v1", "qwen2-7b-instruct", concurrency=4)
text = await client.complete([{"role": "user", "content": "..."}])   # retried on 429, 5xx, dropped connections

Requests go through the official `openai` client, which retries 408, 409, 429, 5xx, dropped or refused connections
and timeouts with exponential backoff and jitter, honouring a server's Retry-After. What it does not do is done here:

- a 200 whose body is unusable (not JSON, no choices, no text) is a success to it; we retry it with our own backoff;
- a Retry-After longer than it will wait (over 120 s in openai 3.x) makes it give up without retrying; we wait up to
  `max_wait` and try again, as we did before it;
- 401, 403 and 404 (wrong key, URL or model) would answer every request alike: the first one raises EndpointRefused,
  and so does every later call, without sending anything.

At most `concurrency` requests are open at once. After `retries` retries in all, a call raises RequestFailed with
the last error and the number of attempts; other 4xx answers (a 400 for one text too long) fail at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import openai

# Answers that mean the endpoint will refuse every request: a wrong API key, base URL or model name.
REFUSED_STATUSES = (401, 403, 404)
# openai 3.x gives up at once on a Retry-After above this (its MAX_RETRY_AFTER_DELAY); 1.x waited its own backoff.
CLIENT_MAX_RETRY_AFTER = 120.0
# The openai client returns a 200 it cannot read as whatever it parsed (or raises JSONDecodeError, a ValueError).
_UNUSABLE_REPLY = (ValueError, KeyError, IndexError, TypeError, AttributeError)
# HTTP attempts of the call running in this task: the request hook below counts the openai client's retries into it.
_ATTEMPTS: ContextVar[list[int] | None] = ContextVar("qilin_chat_attempts", default=None)


@dataclass
class RetryPolicy:
    """How hard to try: retries after the first attempt, the per-request timeout, and our own waits."""

    retries: int = 5  # attempts = retries + 1, the openai client's and ours together
    timeout: float = 120.0  # seconds for one request; long captions take a 7B model a while
    backoff: float = 1.0  # seconds before our first retry of an unusable reply; doubled for each further one
    max_wait: float = 60.0  # none of our waits is longer, a long Retry-After included


class RequestFailed(Exception):
    """A request that failed for good: the last error and how many attempts were made."""

    def __init__(self, error: str, attempts: int):
        super().__init__(f"{error} (after {attempts} attempt{'s' * (attempts != 1)})")
        self.error, self.attempts = error, attempts


class EndpointRefused(Exception):
    """The endpoint refuses every request (401, 403, 404): a wrong key, URL or model, not a fault of one text."""

    def __init__(self, url: str, status: int, message: str):
        super().__init__(f"{url} answered HTTP {status}: {message}")
        self.status, self.message = status, message


@dataclass
class ClientStats:
    """What the client did: HTTP attempts, and the retries among them."""

    requests: int = 0
    retries: int = 0


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
    """Wait before our retry number `retry` (1-based): half the doubled backoff fixed, half random ("equal jitter")."""
    # Jitter spreads the retries of many workers that failed together, so they do not hit the server together again.
    ceiling = min(policy.max_wait, policy.backoff * 2 ** (retry - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class _Failed(Exception):
    """One call's failure: the error, whether we try again, and after how long (None: our backoff)."""

    def __init__(self, error: str, retry: bool = False, wait: float | None = None):
        super().__init__(error)
        self.error, self.retry, self.wait = error, retry, wait


def _server_message(error: openai.APIStatusError) -> str:
    body = error.body  # the parsed JSON's "error" object, or the body itself (vLLM puts "message" at the top)
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) and message else error.response.text[:200]


def _reply_text(completion: Any) -> str:
    content = completion.choices[0].message.content
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
        self._semaphore = asyncio.Semaphore(concurrency)
        self._rng = random.Random(seed)
        self._refused: EndpointRefused | None = None
        # A local server needs no key, but the openai client insists on one: it gets a placeholder, and the
        # Authorization header is left out of each request as before.
        self._headers = {} if api_key else {"Authorization": openai.Omit()}
        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [self._count_request]})
        self._openai = openai.AsyncOpenAI(
            base_url=endpoint,
            api_key=api_key or "none",
            max_retries=self.policy.retries,
            timeout=self.policy.timeout,
            http_client=http,
        )

    async def _count_request(self, request: Any) -> None:
        self.stats.requests += 1
        if (attempts := _ATTEMPTS.get()) is not None:
            attempts[0] += 1

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._openai.close()

    async def complete(self, messages: list[dict[str, str]], **params: Any) -> str:
        """The assistant's reply to `messages` (temperature 0 unless given); RequestFailed when out of retries."""
        request = {"model": self.model, "messages": messages, "temperature": 0, **params}
        attempts = 0
        try:
            while True:
                sent = [0]
                token = _ATTEMPTS.set(sent)
                try:
                    return await self._call(request, retries=self.policy.retries - attempts)
                except _Failed as e:
                    failure = e
                finally:
                    _ATTEMPTS.reset(token)
                    attempts += sent[0]
                if not failure.retry or attempts > self.policy.retries:
                    raise RequestFailed(failure.error, attempts) from failure.__cause__
                wait = backoff_seconds(attempts, self.policy, self._rng) if failure.wait is None else failure.wait
                await asyncio.sleep(min(wait, self.policy.max_wait))
        finally:
            self.stats.retries += max(0, attempts - 1)

    async def _call(self, request: dict[str, Any], retries: int) -> str:
        """One call of the openai client, its own `retries` included; _Failed says whether we should try again."""
        # The slot is held through the openai client's backoff sleeps too: a struggling server gets fewer requests.
        async with self._semaphore:
            if self._refused is not None:
                raise self._refused
            client = self._openai.with_options(max_retries=retries)
            try:
                raw = await client.chat.completions.with_raw_response.create(**request, extra_headers=self._headers)
            except openai.APIStatusError as e:
                if e.status_code in REFUSED_STATUSES:
                    self._refused = EndpointRefused(self.url, e.status_code, _server_message(e))
                    raise self._refused from e
                asked = retry_after_seconds(e.response.headers.get("retry-after"))
                retryable = e.status_code == 429 or e.status_code >= 500
                too_long = retryable and asked is not None and asked > CLIENT_MAX_RETRY_AFTER
                raise _Failed(f"HTTP {e.status_code}: {_server_message(e)}", retry=too_long, wait=asked) from e
            except openai.APIConnectionError as e:  # refused or dropped connection, timeout: retried by the client
                cause = e.__cause__ or e
                raise _Failed(f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__) from e
        try:
            return _reply_text(raw.parse())
        except _UNUSABLE_REPLY as e:
            error = f"unusable reply ({type(e).__name__}: {e}): {raw.http_response.text[:200]}"
            raise _Failed(error, retry=True) from e
