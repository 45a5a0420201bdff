"""`qilin serve --engine vllm` against `--engine hf` on a GPU: parity first, then throughput on the same requests.

    .venv/bin/pip install -e '.[vllm]'     # a CUDA machine
    .venv/bin/python benchmarks/serve_vllm.py [--model runs/demo/dpo/model] [--requests 200] [--max-tokens 64]

Starts vLLM's OpenAI server for the model as `qilin serve --engine vllm` does (the training chat template passed
explicitly, the stage's name), runs the parity check against it (exit 1 if the template check fails), then fires
the same concurrent chat requests at Qilin's front before vLLM and at the in-process transformers engine, and
prints answered/refused counts, wall time and completion tokens per second of each.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from qilin.serve.engine import ChatEngine
from qilin.serve.front import ServerLimits, served_name
from qilin.serve.loadtest import load_test
from qilin.serve.proxy import front_for_engine
from qilin.serve.server import create_app


def serve_in_thread(app: object) -> tuple[uvicorn.Server, str]:
    """A uvicorn server on a free loopback port, running in a daemon thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def completion_tokens(url: str, model: str, n: int, max_tokens: int) -> int:
    """Completion tokens of n sequential greedy answers (the throughput numerator, identical requests)."""
    body = {"model": model, "messages": [{"role": "user", "content": "高血压挂什么科？"}], "max_tokens": max_tokens}
    return sum(httpx.post(f"{url}/v1/chat/completions", json=body, timeout=600).json()["usage"]["completion_tokens"]
               for _ in range(n))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo/dpo/model", help="a text model directory")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-batch", type=int, default=32, help="the hf engine's batch")
    args = parser.parse_args()
    if not (Path(args.model) / "config.json").exists():
        raise SystemExit(f"{args.model}: no model there; run `make demo` first or pass --model DIR")
    name = served_name(args.model)
    limits = ServerLimits(max_pending=args.requests, max_batch=args.max_batch, max_tokens=args.max_tokens)
    try:
        vllm_app, stop = front_for_engine("vllm", args.model, name, limits)  # runs the parity check first
    except ValueError as e:
        print(f"parity check failed: {e}")
        return 1
    results = {}
    try:
        for engine, app in (("vllm", vllm_app), ("hf", create_app(ChatEngine(args.model), name, limits))):
            server, url = serve_in_thread(app)
            load_test(url, name, 8, args.max_tokens)  # warm-up (CUDA graphs, kernels)
            started = time.perf_counter()
            result = load_test(url, name, args.requests, args.max_tokens)
            wall = time.perf_counter() - started
            tokens = completion_tokens(url, name, 1, args.max_tokens) * result.statuses.get(200, 0)
            results[engine] = (result, wall, tokens)
            server.should_exit = True
            print(f"{engine:>5}: {result.summary()}, wall {wall:.1f} s, ~{tokens / wall:.0f} completion tokens/s")
    finally:
        stop()
    if {"vllm", "hf"} <= results.keys():
        print(f"vllm / hf throughput: {results['hf'][1] / results['vllm'][1]:.1f}x on {args.requests} requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
