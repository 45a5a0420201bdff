"""Qilin's front before another OpenAI-compatible server (`qilin serve --engine vllm|openai:URL`).

The backend generates; the front keeps what a Qilin server promises whatever runs the model: the same request
checks and refusals (protocol.py), the request limits and the 503 when `max_pending` requests are held, the RAG
passages put before the question, the API key, the web page and /health. Bodies that pass are forwarded with the
backend's model name; answers (streamed or not) come back as the backend wrote them, under our model's name, and
its errors in OpenAI's shape.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from qilin.serve.front import ServerLimits, add_model_routes, check_max_tokens, new_front, with_passages
from qilin.serve.protocol import (
    ApiError,
    ChatRequest,
    CompletionRequest,
    SamplingFields,
    error_response,
    refuse_unsupported,
)
from qilin.serve.protocol import split_content as check_content

__all__ = ["backend_model", "create_proxy_app", "front_for_engine"]


def backend_model(url: str, api_key: str | None = None) -> str:
    """The first model id the backend lists."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    response = httpx.get(url.rstrip("/") + "/models", headers=headers, timeout=30)
    return response.raise_for_status().json()["data"][0]["id"]


def backend_error(status: int, raw: bytes) -> Response:
    """A backend's error answer in OpenAI's shape: passed on when it has it, else its message wrapped (vLLM's
    older top-level `{"object": "error", "message": ...}`, a gateway's HTML page)."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict) and "message" in body["error"]:
        return Response(raw, status_code=status, media_type="application/json")
    message = body.get("message") if isinstance(body, dict) else None
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return error_response(status, f"the backend answered {status}: {message or raw[:300].decode(errors='replace')}",
                          kind, body.get("param") if isinstance(body, dict) else None)  # fmt: skip


def create_proxy_app(backend_url: str, model_id: str, limits: ServerLimits | None = None, api_key: str | None = None,
                     retriever: Any = None, backend_name: str | None = None, backend_key: str | None = None,
                     engine: str = "openai") -> FastAPI:  # fmt: skip
    """The front serving `model_id` from the OpenAI-compatible server at `backend_url` (ending in /v1)."""
    limits = limits or ServerLimits()
    backend_url = backend_url.rstrip("/")
    backend_name = backend_name or backend_model(backend_url, backend_key)
    headers = {"Authorization": f"Bearer {backend_key}"} if backend_key else {}
    client = httpx.AsyncClient(base_url=backend_url, headers=headers, timeout=httpx.Timeout(600, connect=10))
    state = {"pending": 0, "forwarded": 0}
    created = int(time.time())

    def health() -> dict:
        return {"status": "ok", "model": model_id, "engine": engine, "backend": backend_url,
                "backend_model": backend_name, "pending": state["pending"], "max_pending": limits.max_pending,
                "forwarded": state["forwarded"]}  # fmt: skip

    app = new_front("Qilin", limits, api_key, health)

    card = {"id": model_id, "object": "model", "created": created, "owned_by": "qilin", "engine": engine,
            "rag": retriever is not None}  # fmt: skip
    add_model_routes(app, card)

    def check(body: SamplingFields) -> dict:
        refuse_unsupported(body, model_id)
        if state["pending"] >= limits.max_pending:
            raise ApiError(503, f"server busy: {limits.max_pending} requests pending; retry later", "server_busy")
        return {**body.model_dump(exclude_unset=True), "model": backend_name}

    async def forward(path: str, payload: dict, stream: bool, extra: dict) -> Any:
        state["pending"] += 1
        state["forwarded"] += 1
        try:
            request = client.build_request("POST", path, json=payload)
            response = await client.send(request, stream=stream)
        except httpx.HTTPError as e:
            state["pending"] -= 1
            raise ApiError(502, f"the {engine} backend at {backend_url} did not answer: {e}", "server_error") from None
        if not stream or response.status_code != 200:
            try:
                raw = await response.aread()
            finally:
                state["pending"] -= 1
                await response.aclose()
            if response.status_code != 200:
                return backend_error(response.status_code, raw)
            return JSONResponse({**json.loads(raw), "model": model_id, **extra})

        async def relay() -> Any:
            """The backend's events, each chunk under our model's name (the first with the RAG passages)."""
            first = True
            try:
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        chunk = json.loads(line.removeprefix("data: "))
                        if "model" in chunk:
                            chunk = {**chunk, "model": model_id, **(extra if first else {})}
                            first = False
                        line = "data: " + json.dumps(chunk, ensure_ascii=False)
                    yield line + "\n"
            finally:
                state["pending"] -= 1
                await response.aclose()

        return StreamingResponse(relay(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> Any:
        payload = check(body)
        messages = []
        for i, message in enumerate(body.messages):
            text, _ = check_content(message, i, limits.max_image_bytes, limits.max_image_pixels)
            messages.append({"role": message.role, "content": text})
        if messages[-1]["role"] != "user":
            raise ApiError(400, "the last message must be the user's", param="messages")
        payload["max_tokens"] = check_max_tokens(body.max_completion_tokens or body.max_tokens, limits)
        payload.pop("max_completion_tokens", None)
        extra: dict = {}
        if retriever is not None and isinstance(body.messages[-1].content, str):
            rewritten, passages = with_passages(messages, retriever, limits.rag_top_k)
            payload["messages"] = [*payload["messages"][:-1], rewritten[-1]]
            extra = {"qilin_retrieved": passages}
        return await forward("/chat/completions", payload, body.stream, extra)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Any:
        payload = check(body)
        payload["max_tokens"] = check_max_tokens(body.max_tokens, limits, default=16)
        return await forward("/completions", payload, body.stream, {})

    return app


def front_for_engine(engine: str, model_dir: str, model_id: str, limits: ServerLimits, api_key: str | None = None,
                     retriever: Any = None, allow_template_mismatch: bool = False, backend_key: str | None = None,
                     backend_name: str | None = None, vllm_port: int = 8011,
                     vllm_args: list[str] | None = None) -> tuple[FastAPI, Callable[[], None]]:  # fmt: skip
    """The app for `--engine vllm` or `openai:URL`, after the start-up parity check, and how to stop its backend."""
    from qilin.serve.parity import gate_on_parity

    stop: Callable[[], None] = lambda: None  # noqa: E731
    if engine == "vllm":
        from qilin.serve.vllm import ManagedServer, vllm_command, write_chat_template

        work = Path(tempfile.mkdtemp(prefix="qilin-vllm-"))
        template = write_chat_template(model_dir, work / "chat_template.jinja")
        backend = ManagedServer(vllm_command(model_dir, model_id, vllm_port, template, extra=vllm_args), vllm_port,
                                work / "vllm.log")  # fmt: skip
        url, stop, backend_name, kind = backend.url, backend.stop, model_id, "vllm"
    elif engine.startswith("openai:"):
        url, kind = engine.removeprefix("openai:").rstrip("/"), "openai"
        url = url if url.endswith("/v1") else url + "/v1"
    else:
        raise ValueError(f"unknown engine {engine!r}; engines: hf, vllm, openai:URL")
    try:
        gate_on_parity(model_dir, url, backend_name, backend_key, allow_template_mismatch)
        app = create_proxy_app(url, model_id, limits, api_key, retriever, backend_name, backend_key, kind)
    except Exception:
        stop()
        raise
    return app, stop
