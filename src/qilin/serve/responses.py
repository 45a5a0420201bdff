"""OpenAI's response bodies from the engine's events: chat and text completions, whole or as stream chunks."""

from __future__ import annotations

import json
from typing import Any

from qilin.serve.protocol import token_label


def chat_logprobs(entries: list[dict], as_ids: bool) -> dict:
    """Chat's `logprobs`: {"content": [{"token", "logprob", "bytes", "top_logprobs"}], "refusal": None}."""
    content = []
    for e in entries:
        top = [
            {"token": token_label(t, as_ids), "logprob": t[2], "bytes": list(t[1].encode("utf-8"))}
            for t in e.get("top", [])
        ]
        label = token_label(e, as_ids)
        content.append(
            {"token": label, "logprob": e["logprob"], "bytes": list(e["token"].encode("utf-8")), "top_logprobs": top}
        )
    return {"content": content, "refusal": None}


def completion_logprobs(entries: list[dict], as_ids: bool, offset: int = 0) -> dict:
    """The legacy API's `logprobs`: parallel lists of tokens, their log-probs, top alternatives and offsets."""
    tokens, values, tops, offsets = [], [], [], []
    for e in entries:
        tokens.append(token_label(e, as_ids))
        values.append(e.get("logprob"))
        tops.append({token_label(t, as_ids): t[2] for t in e["top"]} if "logprob" in e else None)
        offsets.append(offset)
        offset += len(e["token"])
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}


class Choices:
    """Accumulates the engine's events for the n choices of one request."""

    def __init__(self, n: int):
        self.texts = [""] * n
        self.entries: list[list[dict]] = [[] for _ in range(n)]
        self.finish: list[str | None] = [None] * n
        self.prompt_entries: list[dict] | None = None
        self.error: str | None = None

    def add(self, kind: str, index: int, value: Any) -> None:
        """Take one event (see decoding.Emit)."""
        if kind == "text":
            self.texts[index] += value[0]
            self.entries[index] += value[1]
        elif kind == "done":
            self.finish[index] = value
        elif kind == "prompt":
            self.prompt_entries = value
        elif kind == "error":
            self.error = value

    @property
    def complete(self) -> bool:
        """Every choice finished, or the batch failed."""
        return self.error is not None or all(f is not None for f in self.finish)


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    """OpenAI's usage block."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def sse(payload: dict | str) -> str:
    """One server-sent event."""
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)}\n\n"
