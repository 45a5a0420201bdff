"""A model behind an OpenAI-compatible endpoint (`qilin serve`, vLLM, SGLang, a gateway), asked what evaluation,
the parity check and `qilin data compare` need: chat replies (text, or an image and text), a greedy chat
completion with log-probs and token ids, and a prompt's own log-probs.

    endpoint = Endpoint("http://127.0.0.1:8000/v1")                      # the first model it lists
    endpoint.replies([[{"role": "user", "content": "高血压挂什么科？"}]], 64)
    endpoint.prompt_logprobs([151644, 872, 198])                           # [None, -3.2, -0.4]

The endpoint renders chat prompts with its own template (`qilin eval parity` checks it is training's); prompt
log-probs are read from `/v1/completions` with `echo` and `logprobs`, the prompt sent as token ids so the endpoint
scores exactly the tokens the caller chose (vLLM, OpenAI's legacy API and `qilin serve` take token-id prompts).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

RETRIES = 5  # attempts after the first on a busy answer or a dropped connection
BUSY = (429, 502, 503, 504)  # answers that mean "later", not "never"
MAX_WAIT = 60.0  # seconds: the longest Retry-After honoured as asked


class EndpointError(RuntimeError):
    """The endpoint answered a request with an error, or with a body that lacks what was asked for."""


class NoPromptLogprobs(EndpointError):
    """The endpoint does not return a prompt's log-probs (`/v1/completions` with `echo` and `logprobs`)."""


class Endpoint:
    """An OpenAI-compatible server and the model name requests go to; up to `concurrency` requests at once."""

    def __init__(self, url: str, model_name: str | None = None, api_key: str | None = None, concurrency: int = 8,
                 timeout: float = 600):  # fmt: skip
        base = url.rstrip("/")
        self.base = base if base.endswith("/v1") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.base, headers=headers, timeout=timeout)
        self.concurrency = concurrency
        self.model = model_name or self._first_model()

    def _first_model(self) -> str:
        try:
            listed = self.http.get("/models")
        except httpx.HTTPError as e:
            raise EndpointError(f"{self.base}/models: {type(e).__name__}: {e}") from None
        models = listed.json().get("data") if listed.status_code == 200 else None
        if not models:
            raise EndpointError(
                f"{self.base}/models answered {listed.status_code} without a model ({listed.text[:200]}); "
                "name the model with --model-name"
            )
        return models[0]["id"]

    def post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to one request to `route` (under /v1); EndpointError naming the URL when it fails.

        A busy or restarting server (429, 502, 503, 504, a dropped connection) is asked again after its
        Retry-After or a doubling wait, up to RETRIES times: a long evaluation does not die of one busy moment.
        """
        for attempt in range(RETRIES + 1):
            try:
                response = self.http.post(route, json={"model": self.model, **body})
            except httpx.TransportError as e:
                if attempt == RETRIES:
                    raise EndpointError(f"{self.base}{route}: {type(e).__name__}: {e}") from None
                time.sleep(2**attempt)
                continue
            if response.status_code not in BUSY or attempt == RETRIES:
                break
            asked = response.headers.get("retry-after", "")
            time.sleep(min(float(asked), MAX_WAIT) if asked.replace(".", "", 1).isdigit() else 2**attempt)
        if response.status_code != 200:
            raise EndpointError(f"{self.base}{route} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def map(self, function: Any, items: list) -> list:
        """`function` over `items`, up to `concurrency` requests in flight, results in order."""
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(function, items))

    def replies(self, conversations: list[list[dict]], max_new_tokens: int = 256, temperature: float = 0.0,
                seed: int | None = None) -> list[str]:  # fmt: skip
        """The assistant's next turn for each conversation, in order (greedy unless a temperature is given).

        A message's content is a string, or OpenAI's parts (`{"type": "image_url", ...}`, `{"type": "text", ...}`).
        """
        sampling = {"max_tokens": max_new_tokens, "temperature": temperature}
        if seed is not None:
            sampling["seed"] = seed

        def one(messages: list[dict]) -> str:
            answer = self.post("/chat/completions", {"messages": messages, **sampling})
            return (answer["choices"][0]["message"]["content"] or "").strip()

        return self.map(one, conversations)

    def chat(self, messages: list[dict], max_tokens: int) -> dict[str, Any]:
        """A greedy chat completion with log-probs, token ids and tokens written as ids (vLLM's extensions)."""
        return self.post("/chat/completions", {"messages": messages, "max_tokens": max_tokens, "temperature": 0,
                                               "logprobs": True, "top_logprobs": 1, "return_token_ids": True,
                                               "return_tokens_as_token_ids": True})  # fmt: skip

    def prompt_logprobs(self, ids: list[int]) -> list[float | None]:
        """Each prompt token's log-prob given the tokens before it (the first has none); NoPromptLogprobs, saying
        what the endpoint answered, where it offers none."""
        # max_tokens 1, not 0: vLLM and OpenAI's legacy API refuse 0; the one generated token is dropped.
        # logprobs 1, not 0: some servers read 0 as "no log-probs".
        body = {"prompt": ids, "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0}
        try:
            answer = self.post("/completions", body)
        except EndpointError as e:
            raise NoPromptLogprobs(f"{self.base} offers no prompt log-probs: {e}") from None
        values = ((answer.get("choices") or [{}])[0].get("logprobs") or {}).get("token_logprobs") or []
        if len(values) < len(ids) or any(v is None for v in values[1 : len(ids)]):
            raise NoPromptLogprobs(
                f"{self.base} offers no prompt log-probs: /completions with echo and logprobs returned "
                f"{sum(v is not None for v in values)} token log-probs for a prompt of {len(ids)} tokens"
            )
        return values[: len(ids)]
