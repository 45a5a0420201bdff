"""`qilin serve`: an OpenAI-compatible chat server with a web page, for text and VL models, optionally with RAG.

Endpoints: POST /v1/chat/completions (streaming as server-sent events, or not), GET /v1/models, GET /health,
GET / (the chat page). Requests are admitted up to `max_pending` (queued + running); beyond that the server
answers 503 at once instead of holding more requests in memory. One worker thread takes up to `max_batch`
queued requests at a time and generates for them together (see engine.py).

What it never does: load pickles (safetensors only), fetch a URL or read a file a client names (images come
only as base64 `data:` URLs), or crash on a bad request (every refusal is a 4xx with OpenAI's error shape).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from qilin.data.vision.images import ImageError, decode_image
from qilin.serve.engine import ChatEngine, Job


@dataclass
class ServerLimits:
    """What the server accepts; everything beyond is refused with a 4xx/503 naming the limit."""

    max_pending: int = 64  # requests queued or running; more get 503
    max_batch: int = 8  # requests generated together
    max_tokens: int = 512  # the most new tokens one request may ask for
    default_max_tokens: int = 256
    max_request_bytes: int = 16 * 2**20
    max_image_bytes: int = 8 * 2**20
    max_image_pixels: int = 4096 * 4096
    rag_top_k: int = 3


class ApiError(Exception):
    """A refused request: HTTP status, OpenAI error type and a message that says what was expected."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


class ImageUrl(BaseModel):
    url: str


class ContentPart(BaseModel):
    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageUrl | None = None


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[ContentPart]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields we do not use (user, seed, ...)

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)  # greedy unless asked: reproducible answers
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=1)
    stop: str | list[str] | None = None


def _error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(body, status_code=status, headers={"Retry-After": "1"} if status == 503 else None)


class _BodyLimit:
    """ASGI middleware refusing request bodies over a size, counted as they arrive (Content-Length can lie)."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            return await _error(413, f"request body over {self.limit} bytes")(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, f"request body over {self.limit} bytes")
            return message

        try:
            await self.app(scope, counted, send)
        except ApiError as e:
            await _error(e.status, e.message)(scope, receive, send)


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
                self.largest_batch = max(self.largest_batch, len(group))
                self.engine.run_batch(group)


def _split_content(message: Message, index: int, limits: ServerLimits) -> tuple[str, list[Any]]:
    """(text, images) of one message; images decoded from data URLs."""
    if isinstance(message.content, str):
        return message.content, []
    texts, images = [], []
    for j, part in enumerate(message.content):
        where = f"messages[{index}].content[{j}]"
        if part.type == "text":
            texts.append(part.text or "")
            continue
        url = part.image_url.url if part.image_url else ""
        if not url.startswith("data:") or ";base64," not in url:
            raise ApiError(
                400,
                f"{where}: images must be base64 data URLs (data:image/png;base64,...); the server does not "
                "fetch URLs or read files",
                param=where,
            )
        encoded = url.split(";base64,", 1)[1]
        if len(encoded) * 3 // 4 > limits.max_image_bytes:
            raise ApiError(413, f"{where}: image over {limits.max_image_bytes} bytes", param=where)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, f"{where}: not valid base64", param=where) from None
        try:
            images.append(decode_image(data, where, dicom="dicom" in url[:40], max_pixels=limits.max_image_pixels))
        except ImageError as e:
            raise ApiError(413 if "pixels" in e.problem else 400, str(e), param=where) from None
    return "\n".join(texts), images


def create_app(engine: ChatEngine, model_id: str, limits: ServerLimits | None = None, api_key: str | None = None,
               retriever: Any = None) -> FastAPI:  # fmt: skip
    """The FastAPI app serving `engine` under the name `model_id`."""
    limits = limits or ServerLimits()
    app = FastAPI(title="Qilin", description="OpenAI-compatible chat completions for a Qilin model")
    worker = _Worker(engine, limits.max_batch)
    state = {"pending": 0}
    created = int(time.time())

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        return _error(e.status, e.message, e.kind, e.param)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0]
        if first.get("type") == "json_invalid":
            return _error(400, f"request body is not valid JSON: {first.get('ctx', {}).get('error', '')}")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request body"
        hint = " (send JSON with Content-Type: application/json)" if where == "request body" else ""
        return _error(400, f"{where}: {first.get('msg')}{hint}", param=where)

    @app.middleware("http")
    async def check_key(request: Request, call_next: Any) -> Any:
        wrong_key = request.headers.get("authorization") != f"Bearer {api_key}"
        if api_key and request.url.path.startswith("/v1/") and wrong_key:
            return _error(401, "missing or wrong API key (Authorization: Bearer KEY)", "authentication_error")
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "model": model_id,
            "pending": state["pending"],
            "max_pending": limits.max_pending,
            "batches": worker.batches,
            "largest_batch": worker.largest_batch,
        }

    @app.get("/v1/models")
    async def models() -> dict:
        card = {"id": model_id, "object": "model", "created": created, "owned_by": "qilin"}
        return {"object": "list", "data": [{**card, "vision": engine.is_vl, "rag": retriever is not None}]}

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return resources.files("qilin.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    def make_job(body: ChatRequest) -> tuple[Job, asyncio.Queue, list[dict]]:
        if body.model != model_id:
            raise ApiError(
                404, f"model {body.model!r} is not served here; this server serves {model_id!r}", param="model"
            )
        messages, images = [], []
        for i, message in enumerate(body.messages):
            text, found = _split_content(message, i, limits)
            messages.append({"role": message.role, "content": text})
            images += found
        if images and not engine.is_vl:
            raise ApiError(400, f"{model_id} is a text model; it cannot read images", param="messages")
        if len(images) > 1:
            raise ApiError(400, f"one image per conversation, got {len(images)}", param="messages")
        if messages[-1]["role"] != "user":
            raise ApiError(400, "the last message must be the user's", param="messages")
        passages: list[dict] = []
        if retriever is not None:
            from qilin.rag.prompt import rag_prompt

            found = retriever.search(messages[-1]["content"], limits.rag_top_k)
            passages = [{"text": p.text, "score": round(float(p.score), 4), "source": p.source} for p in found]
            messages[-1] = {"role": "user", "content": rag_prompt(messages[-1]["content"], found)}
        max_tokens = body.max_completion_tokens or body.max_tokens or min(limits.default_max_tokens, limits.max_tokens)
        if max_tokens > limits.max_tokens:
            raise ApiError(400, f"max_tokens {max_tokens} is over this server's limit of {limits.max_tokens}",
                           param="max_tokens")  # fmt: skip
        try:
            ids = engine.prompt_ids(messages, bool(images))
        except Exception as e:  # a template that refuses the turn order, for instance
            raise ApiError(400, f"cannot render these messages with the model's chat template: {e}") from None
        if len(ids) + max_tokens > engine.context:
            raise ApiError(400, f"prompt of {len(ids)} tokens + max_tokens {max_tokens} is over the model's context "
                           f"of {engine.context} tokens", param="messages")  # fmt: skip
        events: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stops = engine.template_stops + ([body.stop] if isinstance(body.stop, str) else body.stop or [])
        job = Job(ids, max_tokens, body.temperature, body.top_p, [s for s in stops if s],
                  lambda kind, value: loop.call_soon_threadsafe(events.put_nowait, (kind, value)),
                  image=images[0] if images else None)  # fmt: skip
        return job, events, passages

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> Any:
        job, events, passages = make_job(body)
        if state["pending"] >= limits.max_pending:
            raise ApiError(503, f"server busy: {limits.max_pending} requests pending; retry later", "server_busy")
        state["pending"] += 1
        worker.jobs.put(job)
        answer_id, started = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": answer_id, "created": started, "model": model_id}
        usage = lambda: {  # noqa: E731
            "prompt_tokens": len(job.prompt_ids),
            "completion_tokens": job.completion_tokens,
            "total_tokens": len(job.prompt_ids) + job.completion_tokens,
        }

        async def next_event() -> tuple[str, str]:
            kind, value = await events.get()
            if kind != "text":
                state["pending"] -= 1
            return kind, value

        if not body.stream:
            parts, (kind, value) = [], await next_event()
            try:
                while kind == "text":
                    parts.append(value)
                    kind, value = await next_event()
            except asyncio.CancelledError:  # the client went away: free its batch row
                job.cancelled.set()
                raise
            if kind == "error":
                raise ApiError(500, f"generation failed: {value}", "server_error")
            message = {"role": "assistant", "content": "".join(parts)}
            choice = {"index": 0, "message": message, "finish_reason": value}
            return {**head, "object": "chat.completion", "choices": [choice], "usage": usage(),
                    **({"qilin_retrieved": passages} if retriever is not None else {})}  # fmt: skip

        async def stream() -> Any:
            chunk = {**head, "object": "chat.completion.chunk"}
            first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            extra = {"qilin_retrieved": passages} if retriever is not None else {}
            yield f"data: {json.dumps({**chunk, 'choices': [first], **extra}, ensure_ascii=False)}\n\n"
            try:
                while True:
                    kind, value = await next_event()
                    if kind == "text":
                        delta = {"index": 0, "delta": {"content": value}, "finish_reason": None}
                    elif kind == "error":
                        error = {"error": {"message": f"generation failed: {value}", "type": "server_error"}}
                        yield f"data: {json.dumps(error)}\n\n"
                        break
                    else:
                        delta = {"index": 0, "delta": {}, "finish_reason": value}
                    yield f"data: {json.dumps({**chunk, 'choices': [delta]}, ensure_ascii=False)}\n\n"
                    if kind == "done":
                        final = {**chunk, "choices": [], "usage": usage()}
                        yield f"data: {json.dumps(final)}\n\n"
                        break
                yield "data: [DONE]\n\n"
            finally:
                job.cancelled.set()  # no-op when finished; frees the row of a client that disconnected

        return StreamingResponse(stream(), media_type="text/event-stream")

    app.add_middleware(_BodyLimit, limit=limits.max_request_bytes)
    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
