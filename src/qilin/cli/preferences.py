"""`qilin data compare`, and `review | review-apply | review-stats` when their DIR is a compare directory.

The clinician preference loop: compare writes two answers per question, review shows them blind, review-apply
writes DPO pairs, review-stats scores the reviewers' agreement. cli/curation.py hands a compare directory's
review verbs to the functions here (`qilin.curation.compare.is_compare_dir`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from qilin.chat_templates import NAMED_TEMPLATES
from qilin.log import get_logger

log = get_logger(__name__)


def cmd_compare(args: argparse.Namespace) -> int:
    from qilin.config import ModelSettings
    from qilin.curation.compare import compare_models

    settings = ModelSettings(chat_template=args.chat_template, trust_remote_code=args.trust_remote_code)
    api_key = args.api_key or os.environ.get("QILIN_API_KEY") or os.environ.get("OPENAI_API_KEY")
    manifest = compare_models(
        args.questions,
        args.models + args.endpoint,
        args.out,
        samples=args.samples,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        batch_size=args.batch_size,
        settings=settings,
        model_names=args.model_name,
        api_key=api_key,
    )
    for label, source in manifest["answers"].items():
        at = f" at {source['endpoint']}" if "endpoint" in source else ""
        log.info(f"answer {label}: {source['model']}{at} (sample {source['sample']})")
    log.info(
        f"{manifest['items']} questions; temperature {args.temperature}, seed {args.seed}; "
        f"{manifest['identical_answers']} with identical answers, {manifest['empty_answers']} with an empty one"
    )
    log.info(
        f"wrote {Path(args.out) / 'compare.json'} and items.jsonl; next: qilin data review {args.out} --reviewer NAME"
    )
    return 0


def review_preferences(args: argparse.Namespace) -> int:
    """`qilin data review DIR` on a compare directory: serve the blind side-by-side page."""
    from qilin.curation.compare import read_comparison, sample_items
    from qilin.curation.preference_server import create_preference_app
    from qilin.curation.review_server import serve_review

    _, items = read_comparison(args.dataset)
    items = sample_items(items, args.sample, args.seed)
    app = create_preference_app(Path(args.dataset), args.reviewer, items)
    log.info(f"comparing {len(items)} answer pairs as {args.reviewer}: http://127.0.0.1:{args.port}/")
    log.info("decisions are saved as you make them; Ctrl+C to stop")
    serve_review(app, args.port)
    return 0


def apply_preferences(args: argparse.Namespace) -> int:
    """`qilin data review-apply DIR --out pairs.jsonl` on a compare directory: write the DPO pairs."""
    from qilin.curation.preferences import apply_preferences as apply

    summary = apply(args.dataset, args.out, args.reviewer or None)
    chosen = ", ".join(f"{label} {n}" for label, n in sorted(summary["chosen"].items())) or "none"
    log.info(
        f"{summary['items']} items from {', '.join(summary['reviewers'])}: {summary['pairs']} pairs written "
        f"({summary['edited']} with an edited chosen answer; chosen: {chosen}); dropped: {summary['ties_dropped']} "
        f"ties, {summary['no_majority_dropped']} without a majority, {summary['unusable_dropped']} with an empty or "
        f"identical side; {summary['undecided']} undecided"
    )
    log.info(f"wrote {summary['out']}")
    return 0


def preference_stats(args: argparse.Namespace) -> int:
    """`qilin data review-stats DIR` on a compare directory: per reviewer counts, pairwise kappa on A/B/tie."""
    from qilin.curation.preferences import preference_stats as stats_of

    stats = stats_of(args.dataset)

    def percent(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}%"

    print(
        f"{'reviewer':<16} {'decided':>7} {'A':>4} {'B':>4} {'tie':>4} {'edited':>6} {'left picked':>11} {'agrees':>7}"
    )
    for name, r in stats["reviewers"].items():
        print(
            f"{name:<16} {r['decided']:>7} {r['A']:>4} {r['B']:>4} {r['tie']:>4} {r['edited']:>6} "
            f"{percent(r['left_picked_percent']):>11} {percent(r['agreement_with_others_percent']):>7}"
        )
    if not stats["pairs"]:
        log.info("agreement needs decisions from two reviewers")
    for pair in stats["pairs"]:
        kappa = "undefined" if pair["kappa"] is None else f"{pair['kappa']:.3f}"
        log.info(
            f"{' vs '.join(pair['reviewers'])}: {pair['items']} shared items, agreement "
            f"{percent(pair['percent_agreement'])}, kappa {kappa} (on A/B/tie)"
        )
    for label, reasons in stats["reasons_against"].items():
        log.info(f"tags on answer {label} when it lost: {', '.join(f'{k} {n}' for k, n in reasons.items()) or 'none'}")
    log.info(f"wrote {Path(args.dataset) / 'review' / 'agreement.json'}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run `qilin data compare` (the review verbs reach this module through cli/curation.py)."""
    return cmd_compare(args)


def add_parser(data_verbs: argparse._SubParsersAction) -> None:
    """Add `compare` under `qilin data`."""
    compare = data_verbs.add_parser(
        "compare",
        help="generate two answers per question for clinicians to compare (the preference loop's first step)",
        description="Answer every question of QUESTIONS twice, with each model's chat template (the one SFT and "
        "DPO train with): once per model with --models A B (two models, or two stages of one run), or twice from "
        "one model with --models A --samples 2 --temperature T. Either model may be served elsewhere (--endpoint "
        "URL, or a URL in --models): it is asked by chat completions and renders its own template. Writes "
        "OUT/items.jsonl (question, answer A, "
        "answer B) and OUT/compare.json (models, sampling settings, seed, chat template). Next: `qilin data "
        "review OUT --reviewer NAME` shows each pair blind and in random left/right order; `qilin data "
        "review-apply OUT --out pairs.jsonl` writes DPO pairs; `qilin data review-stats OUT` scores agreement.",
        epilog="QUESTIONS formats:\n"
        '  .jsonl / .json  records with a "question" (or "prompt") string: {"question": "高血压挂什么科？"}\n'
        "  anything else   plain text, one question per line\n"
        "examples:\n  qilin data compare questions.jsonl --models runs/demo/sft/model runs/demo/dpo/model --out cmp/\n"
        "  qilin data compare questions.jsonl --models runs/demo/dpo/model --endpoint http://gpu:8000/v1 --out cmp/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("questions", metavar="QUESTIONS", help="questions file (.jsonl, .json or plain text)")
    compare.add_argument(
        "--models",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="two models (answer A, answer B), or one with --samples 2; each a local directory or the URL of an "
        "OpenAI-compatible endpoint (qilin serve, vLLM, a gateway)",
    )
    compare.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="URL",
        help="an endpoint answering after --models (repeat for two): --models DIR --endpoint URL gives A from DIR "
        "and B from URL; the endpoint renders prompts with its own chat template (check it: qilin eval parity)",
    )
    compare.add_argument(
        "--model-name",
        action="append",
        default=[],
        help="the model id at an endpoint (repeat: the i-th name for the i-th endpoint; default: the first it lists)",
    )
    compare.add_argument("--api-key", help="bearer key of the endpoints (default: QILIN_API_KEY or OPENAI_API_KEY)")
    compare.add_argument("--out", required=True, help="output directory (a new one: decisions refer to its answers)")
    compare.add_argument(
        "--samples",
        type=int,
        default=1,
        choices=(1, 2),
        help="answers per model: 1 with two models (default), 2 to sample one model twice (needs --temperature > 0)",
    )
    compare.add_argument(
        "--temperature", type=float, default=0.0, help="sampling temperature; 0 is greedy decoding (default: 0)"
    )
    compare.add_argument("--max-new-tokens", type=int, default=256, help="longest answer in tokens (default: 256)")
    compare.add_argument(
        "--seed", type=int, default=0, help="random seed set before each model generates (recorded; default: 0)"
    )
    compare.add_argument("--batch-size", type=int, default=16, help="questions generated at once (default: 16)")
    compare.add_argument(
        "--chat-template",
        choices=tuple(NAMED_TEMPLATES),
        help="named chat template for a tokenizer that has none (default: the tokenizer's own, else chatml; give "
        "the recipe's model.chat_template if it set one)",
    )
    compare.add_argument(
        "--trust-remote-code", action="store_true", help="run the checkpoint's own Python code (Baichuan needs it)"
    )
    compare.set_defaults(func=run)
