"""Many concurrent chat requests against an OpenAI-compatible server: who was answered, refused or lost, how fast."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    """Status counts, latencies of answered requests (sorted, seconds), answers that came back cut off, the answers
    by request number and their completion tokens (summed from each answer's usage)."""

    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    incomplete: int = 0
    errors: list[str] = field(default_factory=list)  # transport failures: connection reset, timeout
    answers: dict[int, str] = field(default_factory=dict)
    completion_tokens: int = 0

    def percentile(self, q: float) -> float:
        """Latency at quantile q of the answered requests."""
        return self.latencies[min(len(self.latencies) - 1, int(q * len(self.latencies)))] if self.latencies else 0.0

    def summary(self) -> str:
        """One line for a log."""
        total = sum(self.statuses.values()) + len(self.errors)
        return (
            f"{total} requests: statuses {dict(sorted(self.statuses.items()))}, "
            f"transport errors {len(self.errors)}, incomplete answers {self.incomplete}, "
            f"p50 {self.percentile(0.5):.3f} s, p95 {self.percentile(0.95):.3f} s"
        )


async def _load(url: str, model: str, n: int, max_tokens: int, api_key: str | None) -> LoadResult:
    result = LoadResult()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def one(client: httpx.AsyncClient, i: int) -> None:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": f"第{i}个问题：高血压挂什么科？"}],
            "max_tokens": max_tokens,
        }
        started = time.perf_counter()
        try:
            response = await client.post("/v1/chat/completions", json=body, headers=headers)
        except httpx.HTTPError as e:
            result.errors.append(f"{type(e).__name__}: {e}")
            return
        result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1
        if response.status_code == 200:
            result.latencies.append(time.perf_counter() - started)
            answer = response.json()
            result.answers[i] = answer["choices"][0]["message"]["content"]
            result.completion_tokens += answer["usage"]["completion_tokens"]
            if answer["choices"][0]["finish_reason"] not in ("stop", "length"):
                result.incomplete += 1

    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        await asyncio.gather(*(one(client, i) for i in range(n)))
    result.latencies.sort()
    return result


def load_test(url: str, model: str, n: int = 200, max_tokens: int = 16, api_key: str | None = None) -> LoadResult:
    """Send n chat requests at once to `url` (the server's root) and collect what came back."""
    return asyncio.run(_load(url, model, n, max_tokens, api_key))
