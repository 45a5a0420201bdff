"""A live `qilin serve` of the tiny chat model, shared by the server tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qilin.serve.engine import ChatEngine
from qilin.serve.server import ServerLimits, create_app
from tests.live_server import LiveServer

QUESTION = [{"role": "user", "content": "高血压挂什么科？"}]


@pytest.fixture(scope="module")
def engine(tiny_chat_dir: Path) -> ChatEngine:
    return ChatEngine(tiny_chat_dir)


@pytest.fixture(scope="module")
def server(engine: ChatEngine) -> Iterator[LiveServer]:
    live = LiveServer(create_app(engine, "qilin-tiny", ServerLimits(max_tokens=64, max_request_bytes=200_000)))
    yield live
    live.stop()
