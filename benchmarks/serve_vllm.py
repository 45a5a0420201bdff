"""`qilin serve --engine vllm` against `--engine hf` on one GPU: parity first, then throughput on the same requests.

    pip install -e '.[vllm]'                                   # once, on a CUDA machine
    python benchmarks/serve_vllm.py --model runs/demo/dpo/model --requests 200 --max-tokens 64

One command, in this order:
1. vLLM's OpenAI server is started for the model as `qilin serve --engine vllm` starts it (the training chat
   template passed explicitly, the stage's name, a LoRA adapter directory as a LoRA module) with Qilin's front
   before it; the start-up gate refuses a backend whose template differs (exit 1).
2. `qilin eval parity` runs through that front and its checks are printed: template identity, greedy-token
   agreement, max and mean |delta log-prob| against the local float32 model, with the thresholds of the model's
   dtype (a failed check: exit 1 after the throughput run, so the figures are still written).
3. The same N concurrent greedy chat requests (after 8 to warm up) go to the vLLM front, then, vLLM stopped and
   its GPU memory freed, to the in-process transformers engine (`--engine hf`, batches of --max-batch).
4. Per engine: statuses, p50/p95 latency, wall time, completion tokens per second (summed from each answer's
   usage), and how many of the N greedy answers are the same text under both engines; all written to --out.

`--engines hf` runs step 3 for the transformers engine alone: a check of this script on a machine without vLLM.
Exit status: 0 when parity holds, 1 when a check fails, 2 when vLLM or a GPU is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from serve_load import serve_in_thread  # benchmarks/ is on the path when a script here runs

from qilin.durable import write_atomic
from qilin.serve.engine import ChatEngine
from qilin.serve.front import ServerLimits, served_name
from qilin.serve.loadtest import LoadResult, load_test
from qilin.serve.parity import run_parity
from qilin.serve.proxy import front_for_engine
from qilin.serve.server import create_app

WARM_UP = 8  # requests before the timed run: CUDA graphs, kernels, the allocator


def timed_load(url: str, name: str, requests: int, max_tokens: int) -> tuple[LoadResult, float]:
    """The load test of the server at `url` after a warm-up: its result and wall seconds."""
    load_test(url, name, WARM_UP, max_tokens)
    started = time.perf_counter()
    result = load_test(url, name, requests, max_tokens)
    return result, time.perf_counter() - started


def figures(result: LoadResult, wall: float) -> dict:
    """What the table shows of one engine's run."""
    return {"statuses": {str(k): v for k, v in sorted(result.statuses.items())}, "transport_errors": len(result.errors),
            "p50_s": round(result.percentile(0.5), 3), "p95_s": round(result.percentile(0.95), 3),
            "wall_s": round(wall, 3), "completion_tokens": result.completion_tokens,
            "completion_tokens_per_s": round(result.completion_tokens / wall, 1)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo/dpo/model", help="a text model directory (a stage output)")
    parser.add_argument("--requests", type=int, default=200, help="concurrent chat requests per engine")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens of each request (greedy)")
    parser.add_argument("--max-batch", type=int, default=32, help="the hf engine's batch")
    parser.add_argument("--engines", default="vllm,hf", help="vllm,hf (default) or hf alone (a check of the script)")
    parser.add_argument("--vllm-arg", action="append", default=[], help="one more vLLM argument (repeat)")
    device = "gpu" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--out", default=f"benchmarks/results/serve_vllm-{device}.json", help="where the figures go")
    args = parser.parse_args()
    engines = args.engines.split(",")
    if not (Path(args.model) / "config.json").exists():
        raise SystemExit(f"{args.model}: no model there; run `qilin run recipes/demo.yaml` first or pass --model DIR")
    if "vllm" in engines and (importlib.util.find_spec("vllm") is None or not torch.cuda.is_available()):
        print("needs a CUDA GPU and vLLM (pip install -e '.[vllm]'); `--engines hf` checks the script without them")
        return 2
    name = served_name(args.model)
    limits = ServerLimits(max_pending=args.requests, max_batch=args.max_batch, max_tokens=args.max_tokens)
    record: dict = {"model": args.model, "requests": args.requests, "max_tokens": args.max_tokens,
                    "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                    "date": datetime.now(timezone.utc).date().isoformat(), "engines": {}}  # fmt: skip
    answers: dict[str, dict[int, str]] = {}
    parity_holds = True
    if "vllm" in engines:
        try:
            app, stop = front_for_engine("vllm", args.model, name, limits, vllm_args=args.vllm_arg)
        except ValueError as e:  # the start-up gate: the backend renders another template
            print(f"parity check failed at start: {e}")
            return 1
        server, url = serve_in_thread(app)
        try:
            report = run_parity(args.model, url, name)
            print(f"parity of vLLM behind Qilin's front against {args.model}:\n{report.summary()}")
            parity_holds = report.passed
            record["parity"] = {"passed": report.passed, "dtype": report.dtype, "figures": report.figures,
                                "checks": [c.__dict__ for c in report.checks]}  # fmt: skip
            result, wall = timed_load(url, name, args.requests, args.max_tokens)
        finally:
            server.should_exit = True
            stop()  # vLLM's GPU memory is freed before transformers loads the model
        record["engines"]["vllm"], answers["vllm"] = figures(result, wall), result.answers
    if "hf" in engines:
        server, url = serve_in_thread(create_app(ChatEngine(args.model), name, limits))
        try:
            result, wall = timed_load(url, name, args.requests, args.max_tokens)
        finally:
            server.should_exit = True
        record["engines"]["hf"], answers["hf"] = figures(result, wall), result.answers
    for engine, row in record["engines"].items():
        print(f"{engine:>5}: {json.dumps(row)}")
    if len(answers) == 2:
        both = answers["vllm"].keys() & answers["hf"].keys()
        same = sum(answers["vllm"][i] == answers["hf"][i] for i in both)
        speedup = (
            record["engines"]["vllm"]["completion_tokens_per_s"] / record["engines"]["hf"]["completion_tokens_per_s"]
        )
        record |= {"identical_greedy_answers": same, "answered_by_both": len(both), "vllm_over_hf": round(speedup, 2)}
        print(
            f"identical greedy answers: {same} of {len(both)}; vLLM / hf completion tokens per second: {speedup:.1f}x"
        )
    write_atomic(Path(args.out), json.dumps(record, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if parity_holds else 1


if __name__ == "__main__":
    sys.exit(main())
