"""The OpenAI request bodies `qilin serve` accepts, what it refuses by name, and OpenAI's error shape.

Fields a client may send that change nothing here (`user`, `metadata`, `store`, `service_tier`, ...) are
accepted; fields whose meaning the server cannot honour (`tools`, a JSON `response_format`, `logit_bias`, ...)
are refused with a 400 naming the field, instead of being dropped without a word. Two vLLM extensions are
understood so a parity check can read token ids: `return_token_ids` (prompt and completion ids in the answer)
and `return_tokens_as_token_ids` (log-prob tokens written "token_id:N").
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from qilin.data.vision.images import ImageError, decode_image

MAX_STOPS = 4  # OpenAI's limit on stop strings


class ApiError(Exception):
    """A refused request: HTTP status, OpenAI error type and a message that says what was expected."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


def error_response(
    status: int, message: str, kind: str = "invalid_request_error", param: str | None = None
) -> JSONResponse:
    """OpenAI's error body: {"error": {"message", "type", "param", "code"}}."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(body, status_code=status, headers={"Retry-After": "1"} if status == 503 else None)


class ImageUrl(BaseModel):
    url: str


class ContentPart(BaseModel):
    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageUrl | None = None


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart]

    @field_validator("role")
    @classmethod
    def _developer_is_system(cls, role: str) -> str:
        # OpenAI's newer name for the system turn (its client sends it for reasoning models); the template knows system
        return "system" if role == "developer" else role


class SamplingFields(BaseModel):
    """What chat and text completions share."""

    model_config = ConfigDict(extra="allow")  # unknown fields are checked by `refuse_unsupported`

    model: str
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=0)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)  # greedy unless asked: reproducible answers
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=8)
    stop: str | list[str] | None = Field(default=None, max_length=MAX_STOPS)
    seed: int | None = None
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    return_token_ids: bool = False  # vLLM's extension
    return_tokens_as_token_ids: bool = False  # vLLM's extension

    def stops(self) -> list[str]:
        """The client's stop strings as a list."""
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatRequest(SamplingFields):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: dict | None = None


class CompletionRequest(SamplingFields):
    prompt: str | list[int] | list[str] | list[list[int]]
    logprobs: int | None = Field(default=None, ge=0, le=5)  # the legacy API's top-k
    echo: bool = False


# Fields OpenAI defines that this server cannot honour: a client relying on them must hear so.
REFUSED = {
    "tools": "tool calls are not supported",
    "tool_choice": "tool calls are not supported",
    "functions": "function calls are not supported",
    "function_call": "function calls are not supported",
    "parallel_tool_calls": "tool calls are not supported",
    "logit_bias": "logit_bias is not supported",
    "audio": "audio output is not supported",
    "prediction": "predicted outputs are not supported",
    "web_search_options": "web search is not supported",
    "suffix": "suffix (insertion) is not supported",
}
# Fields that change nothing about the answer: accepted and ignored.
IGNORED = {"user", "metadata", "store", "service_tier", "stream_options", "modalities", "reasoning_effort"}


def refuse_unsupported(body: SamplingFields, model_id: str) -> None:
    """Raise a 404 for a model not served here, or a 400 naming the first field this server cannot honour."""
    if body.model != model_id:
        raise ApiError(404, f"model {body.model!r} is not served here; this server serves {model_id!r}", param="model")
    for name, value in (body.model_extra or {}).items():
        if name in IGNORED or value is None or (name == "logit_bias" and not value):
            continue
        if name == "parallel_tool_calls" and not (body.model_extra or {}).get("tools"):
            continue
        reason = REFUSED.get(name, "this server does not know this field")
        raise ApiError(400, f"{name}: {reason}", param=name)
    if isinstance(body, ChatRequest) and body.response_format and body.response_format.get("type") != "text":
        kind = body.response_format.get("type")
        raise ApiError(400, f"response_format: only 'text' is supported, not {kind!r}", param="response_format")
    if isinstance(body, CompletionRequest) and (body.model_extra or {}).get("best_of", 1) != 1:
        raise ApiError(400, "best_of: only 1 is supported", param="best_of")


def split_content(message: Message, index: int, max_image_bytes: int, max_image_pixels: int) -> tuple[str, list]:
    """(text, images) of one chat message; images decoded from base64 data URLs, never fetched."""
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
        if len(encoded) * 3 // 4 > max_image_bytes:
            raise ApiError(413, f"{where}: image over {max_image_bytes} bytes", param=where)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, f"{where}: not valid base64", param=where) from None
        try:
            images.append(decode_image(data, where, dicom="dicom" in url[:40], max_pixels=max_image_pixels))
        except ImageError as e:
            raise ApiError(413 if "pixels" in e.problem else 400, str(e), param=where) from None
    return "\n".join(texts), images


def token_label(entry: dict[str, Any] | tuple, as_ids: bool) -> str:
    """How a token is written in log-probs: its text, or vLLM's "token_id:N"."""
    token_id, text = (entry["id"], entry["token"]) if isinstance(entry, dict) else entry[:2]
    return f"token_id:{token_id}" if as_ids else text
