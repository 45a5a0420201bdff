"""`qilin eval safety`: unsafe compliance and over-refusal of a model, or of replies saved elsewhere."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qilin.config import ConfigError
from qilin.durable import write_atomic
from qilin.eval.safety.scoring import DEFAULT_JUDGE, JUDGES
from qilin.log import get_logger

if TYPE_CHECKING:
    from qilin.eval.safety.judge import Verdict

log = get_logger(__name__)


def _llm_judge(args: argparse.Namespace) -> Callable[[list[str], list[str]], list[Verdict]]:
    """The LLM judge the arguments name, through the OpenAI-compatible client translation uses."""
    from qilin.curation.llm_client import ChatClient, EndpointRefused
    from qilin.eval.safety import judge_with_llm

    if not args.judge_endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            f"--judge-endpoint {args.judge_endpoint!r}: expected an http(s) URL, e.g. http://host:8000/v1"
        )
    if not args.judge_model:
        raise ConfigError("--judge-endpoint needs --judge-model, the model name the endpoint serves")
    key = args.judge_api_key or os.environ.get("OPENAI_API_KEY")

    def judge(prompts: list[str], replies: list[str]) -> list[Verdict]:
        try:
            return judge_with_llm(ChatClient(args.judge_endpoint, args.judge_model, key), prompts, replies)
        except EndpointRefused as e:
            raise ConfigError(f"{e} (check --judge-endpoint, --judge-model and --judge-api-key)") from e

    return judge


def run(args: argparse.Namespace) -> int:
    """Generate (or read) a reply per prompt, judge each, print and optionally save the table."""
    from qilin.eval.qa import read_predictions
    from qilin.eval.safety.prompts import load_prompts, parse_fields
    from qilin.eval.safety.scoring import decoding_note, format_table, generate_replies, judge_replies, safety_table
    from qilin.eval.subsets import seeded_subset

    prompts = load_prompts(args.data, parse_fields(args.fields) if args.fields else None)
    prompts = seeded_subset(prompts, args.limit)
    if args.predictions:
        replies = read_predictions(args.predictions, [p.id for p in prompts])
        decoding = f"replies read from {args.predictions}"
    else:
        from qilin.config import ModelSettings
        from qilin.eval.suite import load_subject

        endpoint = open_endpoint(args)
        if endpoint is not None:
            replies = generate_replies(endpoint, None, prompts, args.batch_size, args.max_new_tokens)
        elif not args.model:
            raise FileNotFoundError("give a MODEL directory, --endpoint URL, or --predictions (replies made elsewhere)")
        else:
            settings = ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code)
            subject = load_subject(Path(args.model), "model", settings)
            replies = generate_replies(subject.model, subject.tokenizer, prompts, args.batch_size, args.max_new_tokens)
        decoding = decoding_note(args.max_new_tokens)
    verdicts = judge_replies(prompts, replies, _llm_judge(args) if args.judge_endpoint else None, args.judge)
    table = safety_table(prompts, verdicts)
    judge = f"LLM judge {args.judge_model} at {args.judge_endpoint}" if args.judge_endpoint else f"{args.judge} judge"
    log.info(f"{len(prompts)} prompts; decoding: {decoding}; {judge}")
    log.info(format_table(table))
    if args.save_predictions:
        rows = [
            {"id": p.id, "prompt": p.prompt, "label": p.label, "category": p.category, "prediction": r}
            | {"verdict": v.label, "rule": v.rule}
            for p, r, v in zip(prompts, replies, verdicts, strict=True)
        ]
        write_atomic(Path(args.save_predictions), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    if args.json:
        result = {"decoding": decoding, "judge": judge, "n": len(prompts), "table": table}
        write_atomic(Path(args.json), json.dumps(result, ensure_ascii=False, indent=1))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `safety` under `qilin eval`."""
    safety = subparsers.add_parser(
        "safety",
        help="unsafe compliance and over-refusal on harmful and benign medical prompts",
        description="Reply to harmful medical requests (refusing or redirecting to care is right) and benign "
        "look-alikes (refusing is wrong) with fixed greedy decoding, judge each reply as refusal/redirect, "
        "compliance or non-answer (empty, garbled, off-topic), and print 'unsafe %' (harmful prompts complied "
        "with), 'over-refusal %' (benign prompts refused) and 'non-answer %', overall and per category. The "
        "judge is offline (--judge: a trained classifier or the rules, Chinese + English) unless --judge-endpoint "
        "names an OpenAI-compatible LLM.",
    )
    safety.add_argument("model", nargs="?", help="local HF model directory (not needed with --predictions)")
    safety.add_argument(
        "--data", default="embedded", help="'embedded' (208 prompts written for Qilin) or a JSONL/JSON/CSV file"
    )
    safety.add_argument(
        "--fields",
        help="column names of --data, e.g. prompt=question,label=kind,category=topic,id=qid (label values: "
        "harmful/benign; without a label column the category must start with one, e.g. harmful/dose)",
    )
    add_endpoint_options(safety)
    safety.add_argument("--predictions", help="JSONL of replies made elsewhere ('prediction', and 'id' or line order)")
    safety.add_argument("--limit", type=int, default=0, help="a fixed seeded subset of this many prompts (0: all)")
    safety.add_argument("--max-new-tokens", type=int, default=256, help="longest reply in tokens (greedy decoding)")
    safety.add_argument("--batch-size", type=int, default=16, help="prompts per generation batch")
    safety.add_argument(
        "--judge",
        choices=JUDGES,
        default=DEFAULT_JUDGE,
        help="offline judge: 'classifier' (linear model over character n-grams and the rules' cues, trained on the "
        "labelled replies) or 'rules' (the rule-based judge); default %(default)s, the better by cross-validation",
    )
    safety.add_argument("--judge-endpoint", help="OpenAI-compatible base URL of an LLM judge, e.g. http://host:8000/v1")
    safety.add_argument("--judge-model", help="model name the judge endpoint serves")
    safety.add_argument("--judge-api-key", help="API key of the judge endpoint (default: $OPENAI_API_KEY)")
    safety.add_argument("--save-predictions", help="write each reply with its verdict and rule here (JSONL)")
    safety.add_argument("--json", help="also write the table to this JSON file")
    safety.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    safety.set_defaults(func=run)


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """`--endpoint URL [--model-name M]`: generate through a served model instead of loading MODEL."""
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="score the model served at this OpenAI-compatible endpoint (qilin serve, vLLM, SGLang, a gateway) "
        "instead of loading MODEL; the endpoint applies its own chat template (check it with `qilin eval parity`); "
        "MCQ by log-likelihood reads its prompt log-probs and needs MODEL for the tokenizer",
    )
    parser.add_argument("--model-name", help="the model id at --endpoint (default: the first one it lists)")
    parser.add_argument("--api-key", help="bearer key of --endpoint (default: QILIN_API_KEY or OPENAI_API_KEY)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at --endpoint (default 8)")


def open_endpoint(args: argparse.Namespace) -> Any:
    """The `qilin.models.endpoint.Endpoint` that `--endpoint` names, or None."""
    if not getattr(args, "endpoint", None):
        return None
    from qilin.models.endpoint import Endpoint

    if not args.endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"--endpoint {args.endpoint!r}: expected an http(s) URL, e.g. http://host:8000/v1")
    key = args.api_key or os.environ.get("QILIN_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {args.concurrency}")
    return Endpoint(args.endpoint, args.model_name, key, concurrency=args.concurrency)
