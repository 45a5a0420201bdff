"""`qilin serve`: an OpenAI-compatible server with a web page, for text and VL models, optionally with RAG.

Endpoints: POST /v1/chat/completions and /v1/completions (streaming as server-sent events, or not; log-probs,
`n` choices, seeds, penalties; `echo` gives a prompt's own log-probs), GET /v1/models, GET /health, GET / (the
chat page). Requests are admitted up to `max_pending` (queued + running); beyond that the server answers 503 at
once instead of holding more requests in memory. One worker thread takes up to `max_batch` queued requests at a
time and generates for them together (see engine.py).

What it never does: load pickles (safetensors only), fetch a URL or read a file a client names (images come
only as base64 `data:` URLs), or crash on a bad request (every refusal is a 4xx with OpenAI's error shape).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from qilin.serve.engine import ChatEngine, Job
from qilin.serve.front import ServerLimits, add_model_routes, check_max_tokens, new_front, with_passages
from qilin.serve.protocol import (
    ApiError,
    ChatRequest,
    CompletionRequest,
    SamplingFields,
    refuse_unsupported,
    split_content,
)
from qilin.serve.responses import Choices, chat_logprobs, completion_logprobs, sse, usage

__all__ = ["ServerLimits", "create_app", "serve"]


class _Worker:
    """The one thread that runs the model: takes up to max_batch jobs, groups them by sampling key, runs them."""

    def __init__(self, engine: ChatEngine, max_batch: int):
        self.engine, self.max_batch = engine, max_batch
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.batches = self.largest_batch = 0
        threading.Thread(target=self._loop, daemon=True, name="qilin-generate").start()

    def _loop(self) -> None:
        while True:
            batch = [self.jobs.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            groups: dict[tuple, list[Job]] = {}
            for job in batch:
                groups.setdefault(job.sampling_key(), []).append(job)
            for group in groups.values():
                self.batches += 1
                self.largest_batch = max(self.largest_batch, sum(j.n for j in group))
                self.engine.run_batch(group)


def _job(body: SamplingFields, ids: list[int], max_tokens: int, stops: list[str], emit: Any, **extra: Any) -> Job:
    """A job from the sampling fields chat and text completions share."""
    return Job(ids, max_tokens, emit, n=body.n, temperature=body.temperature, top_p=body.top_p,
               stops=[s for s in stops if s], frequency_penalty=body.frequency_penalty,
               presence_penalty=body.presence_penalty, seed=body.seed, **extra)  # fmt: skip


def create_app(engine: ChatEngine, model_id: str, limits: ServerLimits | None = None, api_key: str | None = None,
               retriever: Any = None) -> FastAPI:  # fmt: skip
    """The FastAPI app serving `engine` under the name `model_id`."""
    limits = limits or ServerLimits()
    worker = _Worker(engine, limits.max_batch)
    state = {"pending": 0}
    created = int(time.time())

    def health() -> dict:
        return {"status": "ok", "model": model_id, "engine": "hf", "pending": state["pending"],
                "max_pending": limits.max_pending, "batches": worker.batches,
                "largest_batch": worker.largest_batch}  # fmt: skip

    app = new_front("Qilin", limits, api_key, health)

    card = {"id": model_id, "object": "model", "created": created, "owned_by": "qilin", "vision": engine.is_vl,
            "rag": retriever is not None}  # fmt: skip
    add_model_routes(app, card)

    def check(body: SamplingFields) -> None:
        refuse_unsupported(body, model_id)

    def submit(make: Any) -> tuple[Job, asyncio.Queue]:
        """Queue a job built by make(emit); 503 when the server holds max_pending requests."""
        if state["pending"] >= limits.max_pending:
            raise ApiError(503, f"server busy: {limits.max_pending} requests pending; retry later", "server_busy")
        events: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        job = make(lambda kind, index, value: loop.call_soon_threadsafe(events.put_nowait, (kind, index, value)))
        state["pending"] += 1
        worker.jobs.put(job)
        return job, events

    async def events_of(job: Job, events: asyncio.Queue) -> Any:
        """The job's events until every choice is done; frees its slot, and its rows if the client leaves."""
        choices = Choices(job.n)
        try:
            while not choices.complete:
                kind, index, value = await events.get()
                choices.add(kind, index, value)
                yield choices, kind, index, value
        finally:
            state["pending"] -= 1
            job.cancelled.set()  # no-op when finished; frees the rows of a client that went away

    async def collect(job: Job, events: asyncio.Queue) -> Choices:
        choices = Choices(job.n)
        async for choices, *_ in events_of(job, events):  # noqa: B007  (the last state is the answer)
            pass
        if choices.error is not None:
            raise ApiError(500, f"generation failed: {choices.error}", "server_error")
        return choices

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> Any:
        check(body)
        if body.top_logprobs is not None and not body.logprobs:
            raise ApiError(400, "top_logprobs: needs logprobs=true", param="top_logprobs")
        messages, images = [], []
        for i, message in enumerate(body.messages):
            text, found = split_content(message, i, limits.max_image_bytes, limits.max_image_pixels)
            messages.append({"role": message.role, "content": text})
            images += found
        if images and not engine.is_vl:
            raise ApiError(400, f"{model_id} is a text model; it cannot read images", param="messages")
        if len(images) > 1:
            raise ApiError(400, f"one image per conversation, got {len(images)}", param="messages")
        if messages[-1]["role"] != "user":
            raise ApiError(400, "the last message must be the user's", param="messages")
        messages, passages = with_passages(messages, retriever, limits.rag_top_k)
        max_tokens = check_max_tokens(body.max_completion_tokens or body.max_tokens, limits)
        if max_tokens == 0:
            raise ApiError(400, "max_tokens: must be at least 1 for a chat completion", param="max_tokens")
        try:
            ids = engine.prompt_ids(messages, bool(images))
        except Exception as e:  # a template that refuses the turn order, for instance
            raise ApiError(400, f"cannot render these messages with the model's chat template: {e}") from None
        if len(ids) + max_tokens > engine.context:
            raise ApiError(400, f"prompt of {len(ids)} tokens + max_tokens {max_tokens} is over the model's context "
                           f"of {engine.context} tokens", param="messages")  # fmt: skip
        top = (body.top_logprobs or 0) if body.logprobs else None
        job, events = submit(lambda emit: _job(body, ids, max_tokens, engine.template_stops + body.stops(), emit,
                                               logprobs=top, image=images[0] if images else None))  # fmt: skip
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model_id}
        extra = {"qilin_retrieved": passages} if retriever is not None else {}
        as_ids = body.return_tokens_as_token_ids

        if not body.stream:
            choices = await collect(job, events)
            out = []
            for i in range(job.n):
                choice: dict[str, Any] = {"index": i, "message": {"role": "assistant", "content": choices.texts[i]},
                                          "finish_reason": choices.finish[i],
                                          "logprobs": chat_logprobs(choices.entries[i], as_ids) if top is not None
                                          else None}  # fmt: skip
                if body.return_token_ids:
                    choice["token_ids"] = [e["id"] for e in choices.entries[i]]
                out.append(choice)
            ids_field = {"prompt_token_ids": ids} if body.return_token_ids else {}
            return {**head, "object": "chat.completion", "choices": out, **ids_field,
                    "usage": usage(len(ids), job.completion_tokens), **extra}  # fmt: skip

        async def stream() -> Any:
            chunk = {**head, "object": "chat.completion.chunk"}
            for i in range(job.n):
                first = {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                yield sse({**chunk, "choices": [first], **extra})
            async for choices, kind, index, value in events_of(job, events):
                if kind == "error":
                    yield sse({"error": {"message": f"generation failed: {value}", "type": "server_error"}})
                    break
                if kind == "text":
                    delta = {"index": index, "delta": {"content": value[0]}, "finish_reason": None}
                    if top is not None:
                        delta["logprobs"] = chat_logprobs(value[1], as_ids)
                elif kind == "done":
                    delta = {"index": index, "delta": {}, "finish_reason": value}
                else:
                    continue
                yield sse({**chunk, "choices": [delta]})
                if choices.complete:
                    yield sse({**chunk, "choices": [], "usage": usage(len(ids), job.completion_tokens)})
            yield sse("[DONE]")

        return StreamingResponse(stream(), media_type="text/event-stream")

    def prompt_ids(prompt: Any) -> list[int]:
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
            prompt = prompt[0]  # one prompt in a list
        if isinstance(prompt, str):  # tokenized as vLLM does: with the tokenizer's special tokens
            return engine.tokenizer(prompt)["input_ids"]
        if prompt and all(isinstance(t, int) for t in prompt):
            vocab = len(engine.tokenizer)
            if not all(0 <= t < vocab for t in prompt):
                raise ApiError(400, f"prompt: token ids must lie in [0, {vocab})", param="prompt")
            return list(prompt)
        raise ApiError(400, "prompt: one prompt per request (a string or a list of token ids)", param="prompt")

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Any:
        check(body)
        if engine.is_vl:
            raise ApiError(400, f"{model_id} is a VL model; use /v1/chat/completions", param="model")
        ids = prompt_ids(body.prompt)
        max_tokens = check_max_tokens(body.max_tokens, limits, default=16)  # OpenAI's default for completions
        if max_tokens == 0 and not body.echo:
            raise ApiError(400, "max_tokens: 0 only with echo (the prompt's log-probs)", param="max_tokens")
        if len(ids) + max_tokens > engine.context:
            raise ApiError(400, f"prompt of {len(ids)} tokens + max_tokens {max_tokens} is over the model's context "
                           f"of {engine.context} tokens", param="prompt")  # fmt: skip
        echo_top = body.logprobs if body.echo and body.logprobs is not None else None
        job, events = submit(lambda emit: _job(body, ids, max_tokens, body.stops(), emit, logprobs=body.logprobs,
                                               prompt_logprobs=echo_top))  # fmt: skip
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": model_id}  # fmt: skip
        as_ids = body.return_tokens_as_token_ids
        prompt_text = engine.tokenizer.decode(ids) if body.echo else ""

        if not body.stream:
            choices = await collect(job, events)
            out = []
            for i in range(job.n):
                logprobs = None
                if body.logprobs is not None:
                    entries = (choices.prompt_entries or []) + choices.entries[i]
                    logprobs = completion_logprobs(entries, as_ids)
                choice = {"index": i, "text": prompt_text + choices.texts[i], "logprobs": logprobs,
                          "finish_reason": choices.finish[i]}  # fmt: skip
                if body.return_token_ids:
                    choice["prompt_token_ids"] = ids
                    choice["token_ids"] = [e["id"] for e in choices.entries[i]]
                out.append(choice)
            return {**head, "choices": out, "usage": usage(len(ids), job.completion_tokens)}

        async def stream() -> Any:
            async for choices, kind, index, value in events_of(job, events):
                if kind == "error":
                    yield sse({"error": {"message": f"generation failed: {value}", "type": "server_error"}})
                    break
                if kind == "prompt":
                    continue
                text, entries = value if kind == "text" else ("", [])
                if body.echo and index not in echoed:
                    echoed.add(index)
                    text, entries = prompt_text + text, (choices.prompt_entries or []) + entries
                logprobs = completion_logprobs(entries, as_ids) if body.logprobs is not None else None
                finish = value if kind == "done" else None
                yield sse({**head, "choices": [{"index": index, "text": text, "logprobs": logprobs,
                                                "finish_reason": finish}]})  # fmt: skip
            yield sse("[DONE]")

        echoed: set[int] = set()
        return StreamingResponse(stream(), media_type="text/event-stream")

    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
