"""One request's decoding inside a batched `generate`: its rows, their log-probs, penalties and text deltas.

transformers' `generate` runs the batch; four small hooks follow each row through it:
- `StepScores`, a logits processor placed before the sampling warpers (transformers appends user processors
  after its own penalties and before temperature/top-p), keeps each step's log-softmax of the model's logits,
  the figure OpenAI's `logprobs` and vLLM's (default, raw) log-probs report, and applies OpenAI's frequency and
  presence penalties per row: logit -= count * frequency + (count > 0) * presence, counting generated tokens.
- `BatchStreamer` receives each step's sampled tokens, shape (B,), and hands them to the rows.
- `RowsDone` ends each row when its request is done (end of turn, a stop string, max_tokens, a client gone).
- `Row` detokenizes incrementally and emits only text that no later token can change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor, StoppingCriteria
from transformers.generation.streamers import BaseStreamer

# Events a job emits, emit(kind, choice_index, value): ("prompt", 0, [token entries]) first when asked,
# ("text", i, (delta, [token entries])) while generating, then ("done", i, finish_reason) once per choice,
# or ("error", i, message).
Emit = Callable[[str, int, Any], None]


@dataclass
class Job:
    """One completion request, tokenized: `n` choices of the same prompt, generated in the same batch."""

    prompt_ids: list[int]
    max_tokens: int
    emit: Emit
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    stops: list[str] = field(default_factory=list)
    logprobs: int | None = None  # None: no log-probs; k: the chosen token's and the k most likely
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    prompt_logprobs: int | None = None  # the prompt's own log-probs (completions `echo`), same k
    image: Any = None  # a PIL image for a VL model
    cancelled: threading.Event = field(default_factory=threading.Event)
    completion_tokens: int = 0  # over all choices

    def sampling_key(self) -> tuple:
        """Jobs with the same key can share one `generate` call; a seeded job runs alone so its seed decides."""
        alone = id(self) if self.seed is not None else None
        return (self.image is not None, self.temperature > 0, self.temperature, self.top_p, alone)


def token_entry(tokenizer: Any, token: int, logprobs: torch.Tensor | None, top: int) -> dict:
    """{"id", "token", "logprob", "top": [(id, token, logprob)]} of one token under a (V,) log-softmax."""
    entry: dict[str, Any] = {"id": token, "token": tokenizer.decode([token])}
    if logprobs is not None:
        entry["logprob"] = float(logprobs[token])
        if top:
            values, ids = logprobs.topk(top)
            entry["top"] = [
                (i, tokenizer.decode([i]), float(v)) for i, v in zip(ids.tolist(), values.tolist(), strict=True)
            ]
        else:
            entry["top"] = []
    return entry


class Row:
    """One choice of one job inside a batch: incremental text and log-probs."""

    def __init__(self, job: Job, index: int, tokenizer: Any, eos_ids: set[int]):
        self.job, self.index, self.tokenizer, self.eos_ids = job, index, tokenizer, eos_ids
        self.tokens: list[int] = []
        self.pending: list[dict] = []  # token entries (ids, log-probs when asked) not yet sent with text
        self.sent = 0
        self.done = False

    def add(self, token: int, logprobs: torch.Tensor | None) -> None:
        """Take this step's token (and the step's (V,) log-softmax when log-probs were asked)."""
        if self.done:
            return
        if self.job.cancelled.is_set():
            return self.finish("cancelled")
        if token in self.eos_ids:
            return self.finish("stop")
        self.tokens.append(token)
        self.job.completion_tokens += 1
        asked = self.job.logprobs is not None
        self.pending.append(token_entry(self.tokenizer, token, logprobs if asked else None, self.job.logprobs or 0))
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in self.job.stops) if i >= 0), default=-1)
        if cut >= 0:
            self._send(text[:cut])
            return self.finish("stop")
        if len(self.tokens) >= self.job.max_tokens:
            self._send(text)
            return self.finish("length")
        # hold back a character still being assembled from byte tokens, and text that may begin a stop string
        safe = len(text.rstrip("\ufffd"))
        for stop in self.job.stops:
            for k in range(min(len(stop) - 1, safe), 0, -1):
                if text[:safe].endswith(stop[:k]):
                    safe -= k
                    break
        self._send(text[:safe])

    def _send(self, text: str) -> None:
        if len(text) > self.sent or (self.pending and self.done):
            self.job.emit("text", self.index, (text[self.sent :], self.pending))
            self.sent, self.pending = max(self.sent, len(text)), []

    def finish(self, reason: str) -> None:
        """End this choice once: flush held-back log-probs, then say why it ended."""
        if not self.done:
            self.done = True
            if self.pending:
                self._send("")
            self.job.emit("done", self.index, reason)


class StepScores(LogitsProcessor):
    """Keeps each step's log-softmax (B, V) for the rows that asked, and applies per-row OpenAI penalties."""

    def __init__(self, rows: list[Row], prompt_width: int, device: torch.device):
        self.rows, self.prompt_width = rows, prompt_width
        self.wants_logprobs = any(r.job.logprobs is not None for r in rows)
        self.frequency = torch.tensor([r.job.frequency_penalty for r in rows], device=device)  # (B,)
        self.presence = torch.tensor([r.job.presence_penalty for r in rows], device=device)  # (B,)
        self.penalized = bool(self.frequency.any() or self.presence.any())
        self.last: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.wants_logprobs:
            self.last = torch.log_softmax(scores.float(), dim=-1)  # (B, V), before penalties and sampling
        if not self.penalized:
            return scores
        generated = input_ids[:, self.prompt_width :]  # (B, g)
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - self.frequency[:, None] * counts - self.presence[:, None] * (counts > 0).to(scores.dtype)


class BatchStreamer(BaseStreamer):
    """Receives each generation step's tokens, shape (B,), and hands them to the rows with their log-probs."""

    def __init__(self, rows: list[Row], scores: StepScores):
        self.rows, self.scores = rows, scores

    def put(self, value: torch.Tensor) -> None:
        """generate() first passes the prompt ids, (B, T); then each step's tokens, (B,)."""
        if value.dim() == 2:
            return
        last = self.scores.last
        for i, (row, token) in enumerate(zip(self.rows, value.reshape(-1).tolist(), strict=True)):
            row.add(token, last[i] if last is not None else None)

    def end(self) -> None:
        """Rows still open when generation stops ran out of tokens."""
        for row in self.rows:
            row.finish("length")


class RowsDone(StoppingCriteria):
    """Stops each row whose choice has ended."""

    def __init__(self, rows: list[Row]):
        self.rows = rows

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.tensor([row.done for row in self.rows], device=input_ids.device)
