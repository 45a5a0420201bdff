"""`qilin chat | serve | eval parity`: talk to a model in the terminal, serve it over HTTP (OpenAI API and a web
page), and check that an endpoint serves the model we trained."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from qilin.config import ConfigError
from qilin.durable import write_atomic
from qilin.log import get_logger
from qilin.rag.index import open_retriever

log = get_logger(__name__)


def cmd_chat(args: argparse.Namespace) -> int:
    # The reply is what this command outputs, not a log message: printed whatever the log level.
    from transformers import AutoConfig

    import qilin.models.vl  # noqa: F401  (registers the qilin_vl model type with AutoConfig)
    from qilin.config import ModelSettings
    from qilin.models.loading import for_inference, load_model, load_tokenizer
    from qilin.serve.chat import chat_loop, generate_reply, generate_vl_reply

    settings = ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code)
    tokenizer = load_tokenizer(args.model, settings)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    if AutoConfig.from_pretrained(args.model).model_type == "qilin_vl":
        if not args.image or not args.prompt:
            raise ConfigError("a vision-language model needs --image FILE and --prompt TEXT")
        from qilin.models.vision import load_vl_model

        model, tokenizer, processor = load_vl_model(args.model)
        model = for_inference(model)
        messages.append({"role": "user", "content": args.prompt})
        print(generate_vl_reply(model, tokenizer, processor, args.image, messages, args.max_new_tokens))
        return 0
    if args.image:
        raise ConfigError(f"{args.model} is a text model; --image needs a Qilin-Med-VL model")
    model = for_inference(load_model(args.model, settings))
    retriever = open_retriever(args.rag)
    if args.prompt:
        turn = {"role": "user", "content": args.prompt}
        if retriever is not None:
            from qilin.rag.prompt import rag_prompt

            turn["content"] = rag_prompt(args.prompt, retriever.search(args.prompt, args.rag_top_k))
            print(turn["content"], end="\n\n")
        print(generate_reply(model, tokenizer, [*messages, turn], args.max_new_tokens))
    else:
        chat_loop(model, tokenizer, args.system, args.max_new_tokens, retriever, args.rag_top_k)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from qilin.config import ModelSettings
    from qilin.models.loading import check_model_dir
    from qilin.serve.engine import ChatEngine
    from qilin.serve.front import served_name
    from qilin.serve.server import ServerLimits, create_app, serve

    check_model_dir(args.model)
    limits = ServerLimits(
        max_pending=args.max_pending,
        max_batch=args.max_batch,
        max_tokens=args.max_tokens,
        max_request_bytes=args.max_request_mb * 2**20,
        max_image_bytes=args.max_image_mb * 2**20,
        rag_top_k=args.rag_top_k,
    )
    model_id = args.model_name or served_name(args.model)
    api_key = args.api_key or os.environ.get("QILIN_API_KEY")
    retriever = open_retriever(args.rag)
    stop = None
    if args.engine == "hf":
        engine = ChatEngine(args.model, ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code))
        app = create_app(engine, model_id, limits, api_key=api_key, retriever=retriever)
    else:
        from qilin.serve.proxy import front_for_engine

        backend_key = os.environ.get("QILIN_BACKEND_API_KEY")
        try:
            app, stop = front_for_engine(args.engine, args.model, model_id, limits, api_key, retriever,
                                         args.allow_template_mismatch, backend_key, args.backend_model,
                                         args.vllm_port, args.vllm_arg)  # fmt: skip
        except ValueError as e:
            raise ConfigError(str(e)) from None
    log.info(f"serving {model_id!r} ({args.engine}) on http://{args.host}:{args.port} (web page at /, API at /v1)")
    try:
        serve(app, args.host, args.port)
    finally:
        if stop is not None:
            stop()
    return 0


COMMANDS = {"chat": cmd_chat, "serve": cmd_serve}


def run(args: argparse.Namespace) -> int:
    """Run `qilin chat` or `qilin serve`."""
    return COMMANDS[args.verb](args)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    """Add chat and serve."""
    chat = verbs.add_parser(
        "chat",
        help="talk to a model in the terminal",
        description="Chat with a model using the chat template it was trained with.",
    )
    chat.add_argument("model", help="local HF model directory, e.g. runs/demo/dpo/model")
    chat.add_argument("--prompt", help="answer this one question and exit (no interactive loop)")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--image", help="an image (PNG, JPEG or DICOM) for a vision-language model")
    chat.add_argument("--max-new-tokens", type=int, default=256, help="longest reply in tokens")
    chat.add_argument("--rag", metavar="INDEX", help="answer with the top passages of this index in the prompt")
    chat.add_argument("--rag-top-k", type=int, default=3, help="passages per question with --rag")
    chat.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    chat.set_defaults(func=run)

    serve_parser = verbs.add_parser(
        "serve",
        help="OpenAI-compatible API server and web page",
        description="Serve a text or VL model over HTTP: POST /v1/chat/completions (streaming or not, images as "
        "base64 data URLs for VL models; log-probs, n, seed, penalties), POST /v1/completions (echo gives a prompt's "
        "log-probs), GET /v1/models, GET /health, and a chat page at /. Requests beyond "
        "--max-pending get 503; up to --max-batch are generated together. Any OpenAI client works: "
        "OpenAI(base_url='http://HOST:PORT/v1', api_key=KEY). For GPU serving of a text model, vLLM loads our "
        "checkpoints as they are (see docs/serving.md).",
    )
    serve_parser.add_argument("model", help="local HF model directory (text or Qilin-Med-VL)")
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    serve_parser.add_argument("--port", type=int, default=8000, help="TCP port")
    serve_parser.add_argument(
        "--model-name",
        help="the model id clients use (default: RUN-STAGE for a stage output, e.g. demo-dpo; else the "
        "directory's name)",
    )
    serve_parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (or set QILIN_API_KEY)")
    serve_parser.add_argument("--rag", metavar="INDEX", help="put the top passages of this index before questions")
    serve_parser.add_argument("--rag-top-k", type=int, default=3, help="passages per question with --rag")
    serve_parser.add_argument("--max-pending", type=int, default=64, help="requests held at once; more get 503")
    serve_parser.add_argument("--max-batch", type=int, default=8, help="requests generated together")
    serve_parser.add_argument("--max-tokens", type=int, default=512, help="the most new tokens a request may ask")
    serve_parser.add_argument("--max-request-mb", type=int, default=16, help="largest request body")
    serve_parser.add_argument("--max-image-mb", type=int, default=8, help="largest image in a request")
    serve_parser.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    serve_parser.add_argument(
        "--engine",
        default="hf",
        help="what generates: hf (transformers, in this process), vllm (vLLM's server started for MODEL, a GPU "
        "and the vllm extra), or openai:URL (any running OpenAI-compatible server); Qilin's front (limits, RAG, "
        "page) stays before it, and a parity check against MODEL runs at start",
    )
    serve_parser.add_argument(
        "--allow-template-mismatch",
        action="store_true",
        help="start even when the backend's chat template differs from training's (logged loudly)",
    )
    serve_parser.add_argument("--backend-model", help="the model id at an openai:URL backend (default: its first)")
    serve_parser.add_argument("--vllm-port", type=int, default=8011, help="loopback port of the vLLM subprocess")
    serve_parser.add_argument(
        "--vllm-arg",
        action="append",
        default=[],
        help="one more argument for vLLM (repeat), e.g. --vllm-arg=--gpu-memory-utilization=0.8",
    )
    serve_parser.set_defaults(func=run)


def cmd_parity(args: argparse.Namespace) -> int:
    """Check the endpoint against the local model; exit 0 when parity holds, 1 when a check broke."""
    from qilin.serve.parity import run_parity

    api_key = args.api_key or os.environ.get("QILIN_API_KEY") or os.environ.get("OPENAI_API_KEY")
    report = run_parity(args.model, args.endpoint, args.model_name, api_key, args.dtype, args.max_tokens)
    # the verdict is this command's output: printed whatever the log level
    print(report.summary())
    if args.json:
        checks = [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks]
        body = {"passed": report.passed, "dtype": report.dtype, "checks": checks, "figures": report.figures}
        write_atomic(Path(args.json), json.dumps(body, ensure_ascii=False, indent=2))
    return 0 if report.passed else 1


def add_parity_parser(eval_verbs: argparse._SubParsersAction) -> None:
    """Add `eval parity` (wired under `qilin eval`: it judges an endpoint, serving is its subject)."""
    parity = eval_verbs.add_parser(
        "parity",
        help="check that an endpoint serves this model (template, greedy tokens, log-probs)",
        description="Render fixed conversations with the model's training chat template, ask the endpoint (any "
        "OpenAI-compatible server: qilin serve, vLLM, SGLang, a gateway) for greedy completions with log-probs, and "
        "compare with the local model on the same token ids: template identity, greedy-token agreement, max and "
        "mean |delta log-prob| (prompt log-probs too where the endpoint offers them). Exit 1 when a check fails.",
    )
    parity.add_argument("model", help="the local model directory the endpoint should serve, e.g. runs/demo/dpo/model")
    parity.add_argument("--endpoint", required=True, help="base URL, e.g. http://127.0.0.1:8000/v1")
    parity.add_argument("--model-name", help="the model id at the endpoint (default: the first it lists)")
    parity.add_argument("--api-key", help="bearer key (default: QILIN_API_KEY or OPENAI_API_KEY)")
    parity.add_argument(
        "--dtype",
        choices=["float32", "bfloat16"],
        help="which thresholds: the served weights' precision (default: the model's saved dtype)",
    )
    parity.add_argument("--max-tokens", type=int, default=16, help="completion tokens compared per prompt")
    parity.add_argument("--json", help="also write the checks and figures to this JSON file")
    parity.set_defaults(func=cmd_parity)
