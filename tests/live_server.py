"""A live `qilin serve` app for tests: uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import threading
import time

import uvicorn


class LiveServer:
    """A uvicorn server in a thread, on a free loopback port."""

    def __init__(self, app: object):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
