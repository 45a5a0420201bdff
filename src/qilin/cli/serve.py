"""`qilin chat | serve`: talk to a model in the terminal, or serve it over HTTP (OpenAI API and a web page)."""

from __future__ import annotations

import argparse
import os

from qilin.config import ConfigError
from qilin.log import get_logger
from qilin.rag.index import open_retriever

log = get_logger(__name__)


def cmd_chat(args: argparse.Namespace) -> int:
    # The reply is what this command outputs, not a log message: printed whatever the log level.
    from transformers import AutoConfig

    import qilin.models.vl  # noqa: F401  (registers the qilin_vl model type with AutoConfig)
    from qilin.config import ModelSettings
    from qilin.models.loading import load_model, load_tokenizer
    from qilin.serve.chat import chat_loop, generate_reply, generate_vl_reply

    settings = ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code)
    tokenizer = load_tokenizer(args.model, settings)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    if AutoConfig.from_pretrained(args.model).model_type == "qilin_vl":
        if not args.image or not args.prompt:
            raise ConfigError("a vision-language model needs --image FILE and --prompt TEXT")
        from qilin.models.vision import load_vl_model

        model, tokenizer, processor = load_vl_model(args.model)
        messages.append({"role": "user", "content": args.prompt})
        print(generate_vl_reply(model, tokenizer, processor, args.image, messages, args.max_new_tokens))
        return 0
    if args.image:
        raise ConfigError(f"{args.model} is a text model; --image needs a Qilin-Med-VL model")
    model = load_model(args.model, settings).eval()
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
    engine = ChatEngine(args.model, ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code))
    model_id = args.model_name or served_name(args.model)
    api_key = args.api_key or os.environ.get("QILIN_API_KEY")
    app = create_app(engine, model_id, limits, api_key=api_key, retriever=open_retriever(args.rag))
    log.info(f"serving {model_id!r} on http://{args.host}:{args.port} (web page at /, OpenAI API at /v1)")
    serve(app, args.host, args.port)
    return 0


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
    chat.set_defaults(func=cmd_chat)

    serve_parser = verbs.add_parser(
        "serve",
        help="OpenAI-compatible API server and web page",
        description="Serve a text or VL model over HTTP: POST /v1/chat/completions (streaming or not, images as "
        "base64 data URLs for VL models; log-probs, n, seed, penalties), POST /v1/completions (echo gives a prompt's "
        "log-probs), GET /v1/models, GET /health, and a chat page at /. Requests beyond "
        "--max-pending get 503; up to --max-batch are generated together. Any OpenAI client works: "
        "OpenAI(base_url='http://HOST:PORT/v1', api_key=KEY). For GPU serving of a text model, vLLM loads our "
        "checkpoints as they are (see README).",
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
    serve_parser.set_defaults(func=cmd_serve)
