"""A stand-in for an OpenAI-compatible LLM on loopback: deterministic word-table translation and injected faults.

fake = FakeLLM(script={"Chest X-ray.": ["429", "drop"]}, always_fail={"Bad text."})
with serve(fake) as url:   # http://127.0.0.1:PORT (the endpoint is url + "/v1")
    ...                    # fake.log: one entry per request: {"text", "target", "outcome", "system"}

Outcomes: "ok"; "429" (Retry-After: 0), "429:S" (Retry-After: S); "400"; "500"; "drop" (headers sent, then the
connection is closed mid-body); "empty" (a 200 without choices); "slow" (answers after `slow_seconds`, past a short
client timeout); "held" (the server stops answering after `hold_after` successes until `release()`, so a test can
kill a client with requests in flight but none answered). With `models`, another model name gets vLLM's 404; with
`api_key`, a request without that bearer token gets a 401 (outcomes "404" and "401").
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

WORDS = {
    "axial": "轴位",
    "chest": "胸部",
    "x-ray": "X线片",
    "shows": "显示",
    "show": "显示",
    "a": "一个",
    "an": "一个",
    "mass": "肿块",
    "nodule": "结节",
    "in": "位于",
    "of": "的",
    "the": "",
    "and": "和",
    "left": "左",
    "right": "右",
    "kidney": "肾",
    "lung": "肺",
    "upper": "上",
    "lobe": "叶",
    "case": "病例",
    "what": "什么",
    "is": "是",
    "shown": "显示",
    "where": "哪里",
    "lesion": "病灶",
    "modality": "检查方式",
    "this": "这个",
    "image": "图像",
    "man": "男性",
    "woman": "女性",
    "year-old": "岁",
    "with": "伴",
    "cough": "咳嗽",
    "pain": "疼痛",
    "effusion": "积液",
    "pleural": "胸腔",
    "scan": "扫描",
    "cm": "厘米",
    "mm": "毫米",
}
PUNCTUATION = {".": "。", ",": "，", "?": "？", ":": "：", ";": "；"}


def fake_translate(text: str) -> str:
    """Word by word through WORDS; unknown words stay English, numbers stay as they are."""
    out = []
    for token in re.findall(r"[A-Za-z][A-Za-z\-]*|\d+(?:\.\d+)?|\S", text):
        if token[0].isalpha():
            out.append(WORDS.get(token.lower(), token))
        else:
            out.append(PUNCTUATION.get(token, token))
    return "".join(out)


class FakeLLM:
    """An ASGI app answering POST /v1/chat/completions; see the module docstring for the faults it injects."""

    def __init__(
        self,
        script: dict[str, list[str]] | None = None,
        always_fail: set[str] | None = None,
        hold_after: int | None = None,
        slow_seconds: float = 1.0,
        models: set[str] | None = None,
        api_key: str | None = None,
    ):
        self.script = {text: list(actions) for text, actions in (script or {}).items()}
        self.always_fail = set(always_fail or ())
        self.hold_after = hold_after
        self.slow_seconds = slow_seconds
        self.models, self.api_key = models, api_key
        self.log: list[dict[str, str]] = []
        self.forward: dict[str, str] = {}  # translation -> source, for back-translation
        self._released = threading.Event()
        self._lock = threading.Lock()

    def ok_count(self) -> int:
        """Successful answers so far."""
        return sum(e["outcome"] == "ok" for e in self.log)

    def held_count(self) -> int:
        """Requests held (never answered) so far."""
        return sum(e["outcome"] == "held" for e in self.log)

    def release(self) -> None:
        """Stop holding: held requests get a 503, new ones are answered."""
        self.hold_after = None
        self._released.set()

    def _action(self, text: str) -> str:
        with self._lock:
            if text in self.always_fail:
                return "500"
            if self.script.get(text):
                return self.script[text].pop(0)
            if self.hold_after is not None and self.ok_count() >= self.hold_after:
                return "held"
            return "ok"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] != "/v1/chat/completions" or scope["method"] != "POST":
            await _respond(send, 404, {"error": {"message": "not found"}})
            return
        request = json.loads(body)
        system, text = request["messages"][0]["content"], request["messages"][-1]["content"]
        target = "en" if "into English" in system else "zh"
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            action = "401"
        elif self.models is not None and request["model"] not in self.models:
            action = "404"
        else:
            action = self._action(text)
        self.log.append({"text": text, "target": target, "outcome": action, "system": system})
        if action == "401":
            await _respond(send, 401, {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}})
        elif action == "404":  # vLLM's answer, with its message at the top level
            message = f"The model `{request['model']}` does not exist."
            await _respond(send, 404, {"object": "error", "message": message, "type": "NotFoundError", "code": 404})
        elif action.startswith("429"):
            wait = action.partition(":")[2] or "0"
            await _respond(send, 429, {"error": {"message": "rate limited"}}, [(b"retry-after", wait.encode())])
        elif action == "400":
            await _respond(send, 400, {"error": {"message": "prompt too long"}})
        elif action == "empty":
            await _respond(send, 200, {"choices": [], "model": "fake"})
        elif action == "500":
            await _respond(send, 500, {"error": {"message": "internal error"}})
        elif action == "drop":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
            raise ConnectionAbortedError("the fake drops this connection")  # uvicorn closes it mid-body
        elif action == "held":
            while not self._released.is_set():
                await asyncio.sleep(0.02)
            await _respond(send, 503, {"error": {"message": "was held"}})
        else:
            if action == "slow":
                await asyncio.sleep(self.slow_seconds)
            reply = self.forward.get(text, "unknown") if target == "en" else fake_translate(text)
            if target == "zh":
                self.forward[reply] = text
            answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}], "model": "fake"}
            await _respond(send, 200, answer)


async def _respond(send: Any, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    base = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": base + (headers or [])})
    await send({"type": "http.response.body", "body": data})


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread on a free loopback port; yields its base URL."""
    # Not tests/test_serve.py's LiveServer: importing that module loads torch and the chat engine.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
