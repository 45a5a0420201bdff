"""Load test of `qilin serve` on loopback: 200 concurrent chat requests against the demo model.

    .venv/bin/python benchmarks/serve_load.py [--model runs/demo/dpo/model] [--requests 200] [--max-pending 64]

Starts the server in this process (uvicorn, a free port), fires all requests at once, and prints how many were
answered (200) or refused because the queue was full (503), transport errors (must be 0), and p50/p95 latency
of the answered ones; then the same at a queue large enough for all, to show latency under full load.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import httpx
import torch
import uvicorn

from qilin.serve.engine import ChatEngine
from qilin.serve.loadtest import load_test
from qilin.serve.server import ServerLimits, create_app


def serve_in_thread(app: object) -> tuple[uvicorn.Server, str]:
    """A uvicorn server on a free loopback port, running in a daemon thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo/dpo/model", help="a model directory (run `make demo` first)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--max-pending", type=int, default=64)
    parser.add_argument("--max-batch", type=int, default=8)
    args = parser.parse_args()
    if not (Path(args.model) / "config.json").exists():
        raise SystemExit(f"{args.model}: no model there; run `make demo` first or pass --model DIR")
    engine = ChatEngine(args.model)
    print(f"model {args.model}, {torch.get_num_threads()} CPU threads, max_tokens {args.max_tokens}")
    for max_pending in (args.max_pending, args.requests):
        limits = ServerLimits(max_pending=max_pending, max_batch=args.max_batch)
        server, url = serve_in_thread(create_app(engine, "demo", limits))
        started = time.perf_counter()
        result = load_test(url, "demo", args.requests, args.max_tokens)
        wall = time.perf_counter() - started
        health = httpx.get(f"{url}/health").json()
        server.should_exit = True
        print(f"max_pending {max_pending:>4}, max_batch {args.max_batch}: {result.summary()}")
        print(f"    wall {wall:.1f} s, batches {health['batches']}, largest {health['largest_batch']}, "
              f"still pending after: {health['pending']}")  # fmt: skip


if __name__ == "__main__":
    main()
