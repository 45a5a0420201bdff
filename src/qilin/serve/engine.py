"""The model behind `qilin serve`: requests batched into one `generate` call, tokens streamed back per request.

Batching uses transformers' own `generate` with two small hooks instead of a decoding loop of our own: a
streamer that receives every step's tokens for the whole batch (transformers' TextStreamer refuses batches),
and a stopping criterion that ends each row when its request is done (end of turn, a stop string, its own
max_tokens, or a client that went away). A row that stops early just idles until the batch ends.

Why not `qilin.models.generation.generate_vl_texts`, which chat and VQA evaluation use: that one returns whole
replies, greedy, after the batch ends, while a server streams each row as it grows, samples per request and stops
rows one by one. What must agree is shared instead: prompts come from `vl_prompt_ids` (the image placed and
expanded as in training), pixel values from `image_pixels`, and a turn ends at the same `end_of_turn_ids`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from qilin.chat_templates import end_of_turn_ids, render_prompt, stop_strings
from qilin.config import ModelSettings

# Events a job emits: ("text", delta) while generating, then ("done", finish_reason) once.
Emit = Callable[[str, str], None]


@dataclass
class Job:
    """One chat completion request, tokenized and ready to batch."""

    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    stops: list[str]
    emit: Emit
    image: Any = None  # a PIL image for a VL model
    cancelled: threading.Event = field(default_factory=threading.Event)
    completion_tokens: int = 0

    def sampling_key(self) -> tuple:
        """Jobs with the same key can share one `generate` call."""
        return (self.image is not None, self.temperature > 0, self.temperature, self.top_p)


class _Row:
    """Incremental detokenization of one batch row: emits only text that no later token can change."""

    def __init__(self, job: Job, tokenizer: Any, eos_ids: set[int]):
        self.job, self.tokenizer, self.eos_ids = job, tokenizer, eos_ids
        self.tokens: list[int] = []
        self.sent = 0
        self.done = False

    def add(self, token: int) -> None:
        if self.done:
            return
        if self.job.cancelled.is_set():
            return self.finish("cancelled")
        if token in self.eos_ids:
            return self.finish("stop")
        self.tokens.append(token)
        self.job.completion_tokens = len(self.tokens)
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
        if len(text) > self.sent:
            self.job.emit("text", text[self.sent :])
            self.sent = len(text)

    def finish(self, reason: str) -> None:
        if not self.done:
            self.done = True
            self.job.emit("done", reason)


class _BatchStreamer(BaseStreamer):
    """Receives each generation step's tokens, shape (B,), and hands them to the rows."""

    def __init__(self, rows: list[_Row]):
        self.rows = rows

    def put(self, value: torch.Tensor) -> None:
        if value.dim() == 2:  # generate() first passes the prompt ids, (B, T); then each step's tokens, (B,)
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=True):
            row.add(token)

    def end(self) -> None:
        for row in self.rows:
            row.finish("length")


class _RowsDone(StoppingCriteria):
    def __init__(self, rows: list[_Row]):
        self.rows = rows

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.tensor([row.done for row in self.rows], device=input_ids.device)


class ChatEngine:
    """A loaded text or VL model that turns chat messages into jobs and runs batches of them."""

    def __init__(self, model_dir: str | Path, settings: ModelSettings | None = None):
        import qilin.models.vl  # noqa: F401  (registers qilin_vl with AutoConfig)
        from qilin.models.loading import check_model_dir, load_model, load_tokenizer

        settings = settings or ModelSettings(path=str(model_dir))
        self.model_dir = Path(model_dir)
        config = AutoConfig.from_pretrained(check_model_dir(model_dir), trust_remote_code=settings.trust_remote_code)
        self.is_vl = config.model_type == "qilin_vl"
        if self.is_vl:
            from qilin.models.vision import load_vl_model

            self.model, self.tokenizer, self.processor = load_vl_model(model_dir, settings, safetensors_only=True)
            self.context = self.model.config.text_config.max_position_embeddings
            generation_config = self.model.language_model.generation_config
        else:
            self.tokenizer = load_tokenizer(model_dir, settings)
            self.model = load_model(model_dir, settings, safetensors_only=True)
            self.processor = None
            self.context = getattr(config, "max_position_embeddings", None) or self.tokenizer.model_max_length
            generation_config = self.model.generation_config
        self.model.eval()
        self.eos_ids = end_of_turn_ids(self.tokenizer, generation_config.eos_token_id)
        self.template_stops = stop_strings(self.tokenizer)

    def prompt_ids(self, messages: list[dict[str, str]], has_image: bool) -> list[int]:
        """Token ids the model sees before answering: the training chat template, image tokens expanded."""
        if has_image:
            from qilin.data.vision.dataset import vl_prompt_ids

            return vl_prompt_ids(self.tokenizer, messages, self.model.config.image_token_index, self.image_tokens)
        return self.tokenizer(render_prompt(self.tokenizer, messages), add_special_tokens=False)["input_ids"]

    @property
    def image_tokens(self) -> int:
        """Positions one image takes in the prompt."""
        return self.model.num_image_tokens if self.is_vl else 0

    @torch.no_grad()
    def run_batch(self, jobs: list[Job]) -> None:
        """Generate for jobs sharing a sampling key, streaming each row's text through its job's `emit`."""
        rows = [_Row(job, self.tokenizer, self.eos_ids) for job in jobs]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        width = max(len(j.prompt_ids) for j in jobs)
        ids = torch.full((len(jobs), width), pad, dtype=torch.long)  # (B, T), left-padded
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        for i, job in enumerate(jobs):
            ids[i, width - len(job.prompt_ids) :] = torch.tensor(job.prompt_ids)
            mask[i, width - len(job.prompt_ids) :] = 1
        first = jobs[0]
        sampling = (
            {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p}
            if first.temperature > 0
            else {"do_sample": False}
        )
        kwargs: dict[str, Any] = {
            "attention_mask": mask.to(self.model.device),
            "max_new_tokens": max(j.max_tokens for j in jobs),
            "pad_token_id": pad,
            "use_cache": True,  # load_model turns the cache off for training
            "streamer": _BatchStreamer(rows),
            "stopping_criteria": StoppingCriteriaList([_RowsDone(rows)]),
            **sampling,
        }
        try:
            if first.image is not None:
                from qilin.data.vision.dataset import image_pixels

                pixels = image_pixels(self.processor, [j.image for j in jobs])
                self.model.generate(input_ids=ids.to(self.model.device), pixel_values=pixels, **kwargs)
            else:
                self.model.generate(input_ids=ids.to(self.model.device), **kwargs)
        except Exception as e:  # one bad batch must not take the server down; its requests learn why
            for row in rows:
                if not row.done:
                    row.done = True
                    row.job.emit("error", f"{type(e).__name__}: {e}")
            return
        for row in rows:
            row.finish("length")
