"""What every `qilin serve` engine shares in front of the model: OpenAI-shaped errors, the API key, body limits,
the web page and health, request limits and RAG.

Whether the model runs in this process (`--engine hf`) or behind another OpenAI-compatible server (`vllm`,
`openai:URL`), a client meets the same front: the same refusals, the same limits, the same retrieved passages.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from qilin.serve.protocol import ApiError, error_response


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


class BodyLimit:
    """ASGI middleware refusing request bodies over a size, counted as they arrive (Content-Length can lie)."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            return await error_response(413, f"request body over {self.limit} bytes")(scope, receive, send)
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
            await error_response(e.status, e.message)(scope, receive, send)


def new_front(title: str, limits: ServerLimits, api_key: str | None, health: Any) -> FastAPI:
    """A FastAPI app with the shared front installed; `health()` returns the /health body."""
    app = FastAPI(title=title, description="OpenAI-compatible completions for a Qilin model")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        return error_response(e.status, e.message, e.kind, e.param)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        if e.status_code == 404:
            return error_response(404, f"no route {request.method} {request.url.path}", "not_found_error")
        return error_response(e.status_code, str(e.detail))

    @app.exception_handler(Exception)
    async def server_error(request: Request, e: Exception) -> JSONResponse:
        # a bug of ours still answers in OpenAI's shape (the traceback goes to the server's log, as before)
        return error_response(500, f"internal error: {type(e).__name__}: {e}", "server_error")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        errors = e.errors()
        if errors[0].get("type") == "json_invalid":
            return error_response(400, f"request body is not valid JSON: {errors[0].get('ctx', {}).get('error', '')}")
        # The deepest error is the one that says what was wrong (content given as parts: the part's bad type, not
        # "content: Input should be a valid string"); union branch tags ("str", "list[ContentPart]") are dropped.
        first = max(errors, key=lambda error: len(error.get("loc", ())))
        steps = [str(p) for p in first.get("loc", ()) if p != "body" and p != "str" and "[" not in str(p)]
        where = ".".join(steps) or "request body"
        hint = " (send JSON with Content-Type: application/json)" if where == "request body" else ""
        return error_response(400, f"{where}: {first.get('msg')}{hint}", param=where)

    @app.middleware("http")
    async def check_key(request: Request, call_next: Any) -> Any:
        wrong_key = request.headers.get("authorization") != f"Bearer {api_key}"
        if api_key and request.url.path.startswith("/v1/") and wrong_key:
            return error_response(401, "missing or wrong API key (Authorization: Bearer KEY)", "authentication_error")
        return await call_next(request)

    @app.get("/health")
    async def health_route() -> dict:
        return health()

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return resources.files("qilin.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    app.add_middleware(BodyLimit, limit=limits.max_request_bytes)
    return app


def add_model_routes(app: FastAPI, card: dict[str, Any]) -> None:
    """GET /v1/models (the one model served) and GET /v1/models/{id} (its card, or a 404 naming what is served)."""

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [card]}

    @app.get("/v1/models/{model:path}")
    async def model(model: str) -> dict:
        if model != card["id"]:
            raise ApiError(404, f"model {model!r} is not served here; this server serves {card['id']!r}",
                           "not_found_error", param="model")  # fmt: skip
        return card


def check_max_tokens(asked: int | None, limits: ServerLimits, default: int | None = None) -> int:
    """The request's max tokens, refused over the server's limit."""
    max_tokens = asked if asked is not None else min(default or limits.default_max_tokens, limits.max_tokens)
    if max_tokens > limits.max_tokens:
        raise ApiError(400, f"max_tokens {max_tokens} is over this server's limit of {limits.max_tokens}",
                       param="max_tokens")  # fmt: skip
    return max_tokens


def with_passages(messages: list[dict], retriever: Any, top_k: int) -> tuple[list[dict], list[dict]]:
    """The conversation with the last question's top passages before it, and the passages (RAG)."""
    if retriever is None:
        return messages, []
    from qilin.rag.prompt import rag_prompt

    found = retriever.search(messages[-1]["content"], top_k)
    passages = [{"text": p.text, "score": round(float(p.score), 4), "source": p.source} for p in found]
    return [*messages[:-1], {"role": "user", "content": rag_prompt(messages[-1]["content"], found)}], passages


def served_name(model_dir: str | Path) -> str:
    """The id clients see: RUN-STAGE for a stage output (runs/demo/dpo/model -> demo-dpo), else the directory's name."""
    path = Path(model_dir).resolve()
    if path.name == "model" and (path.parent.parent / "manifest.json").exists():
        return f"{path.parent.parent.name}-{path.parent.name}"
    if path.name == "model":  # a stage directory outside a run: still name the stage
        return path.parent.name
    return path.name
