"""`qilin data translate | review | review-apply | review-stats`: the ChiMed-VL builder's verbs.

cli/data.py adds them under `qilin data` with `add_parser(data_verbs)`. Each verb's function returns the
exit code: 0 done, 1 done but some items failed (translate), 2 a user error (raised as ConfigError, DataError or
FileNotFoundError and printed by `qilin`'s main; an endpoint that refuses the requests is one).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from qilin.config import ConfigError
from qilin.curation.compare import is_compare_dir
from qilin.log import get_logger

log = get_logger(__name__)


def cmd_translate(args: argparse.Namespace) -> int:
    from qilin.curation.llm_client import EndpointRefused, RetryPolicy
    from qilin.curation.sources import parse_fields
    from qilin.curation.translate import translate_file

    if not args.endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"--endpoint {args.endpoint!r}: expected an http(s) URL such as http://127.0.0.1:8000/v1")
    if args.concurrency < 1 or args.retries < 0 or args.backoff < 0 or args.timeout <= 0:
        raise ConfigError("--concurrency must be >= 1, --retries and --backoff >= 0, --timeout > 0")
    fields = parse_fields(args.fields) if args.fields else None
    out = Path(args.out) if args.out else Path(args.source).with_name(Path(args.source).stem + f"_{args.to}")
    policy = RetryPolicy(retries=args.retries, backoff=args.backoff, timeout=args.timeout)
    step = 0

    def progress(done: int, total: int) -> None:
        nonlocal step
        if done == total or done * 20 // total > step:  # a line per 5%
            step = done * 20 // total
            log.info(f"  {done}/{total} items")

    try:
        summary = translate_file(
            args.source,
            out,
            args.endpoint,
            args.model,
            api_key=args.api_key or os.environ.get("OPENAI_API_KEY"),
            fmt=args.format,
            fields=fields,
            glossary=args.glossary,
            images=args.images,
            concurrency=args.concurrency,
            policy=policy,
            back_translate=args.back_translate,
            cache=args.cache,
            progress=progress,
        )
    except EndpointRefused as e:  # every further request would be refused alike: a user error, not N failed items
        raise ConfigError(f"{e} (check --endpoint, --model and --api-key)") from e
    detected = " (detected)" if args.format == "auto" and not fields else ""
    log.info(
        f"{args.source}: {summary['format']} format{detected}, {summary['items']} items, {summary['segments']} segments"
    )
    log.info(
        f"translated {summary['translated']}, failed {summary['failed']} (see {out / 'failures.jsonl'}); "
        f"{summary['new_translations']} new translations, {summary['cache_hits']} from the cache, "
        f"{summary['requests']} requests, {summary['retries']} retries"
    )
    flags = ", ".join(f"{k} {v}" for k, v in summary["flags"].items()) or "none"
    log.info(f"flagged items {summary['flagged_items']} ({flags})")
    for path in summary["outputs"].values():
        log.info(f"wrote {path}")
    log.info(f"images resolve against {summary['images']} (give it as --images to `qilin data check` and training)")
    return 1 if summary["failed"] else 0


def cmd_review(args: argparse.Namespace) -> int:
    if is_compare_dir(args.dataset):  # a preference review (qilin data compare), see cli/preferences.py
        from qilin.cli.preferences import review_preferences

        return review_preferences(args)
    from qilin.curation.review import recorded_images, sample_queue
    from qilin.curation.review_server import create_review_app, serve_review
    from qilin.curation.translate import read_translations

    if args.sample is not None and args.sample < 1:
        raise ConfigError(f"--sample must be at least 1, got {args.sample}")
    dataset = Path(args.dataset)
    queue = sample_queue(read_translations(dataset), args.sample, args.seed)
    images = Path(args.images) if args.images else recorded_images(dataset)
    if not images.is_dir():
        raise FileNotFoundError(f"image folder {images} not found; give --images DIR")
    app = create_review_app(dataset, args.reviewer, queue, images)
    flagged = sum(1 for r in queue if r.flags)
    log.info(f"reviewing {len(queue)} items ({flagged} flagged) as {args.reviewer}: http://127.0.0.1:{args.port}/")
    log.info("decisions are saved as you make them; Ctrl+C to stop")
    serve_review(app, args.port)
    return 0


def cmd_review_apply(args: argparse.Namespace) -> int:
    if is_compare_dir(args.dataset):  # a preference review (qilin data compare), see cli/preferences.py
        from qilin.cli.preferences import apply_preferences

        return apply_preferences(args)
    from qilin.curation.review import apply_reviews

    summary = apply_reviews(args.dataset, args.out, args.reviewer or None, args.keep_unreviewed)
    unreviewed = "kept" if args.keep_unreviewed else "dropped"
    log.info(
        f"accepted {summary['accepted']}, edited {summary['edited']}, rejected {summary['rejected']}, "
        f"unreviewed {summary['unreviewed']} ({unreviewed}): {summary['written']} items written"
    )
    for path in summary["outputs"].values():
        log.info(f"wrote {path}")
    return 0


def cmd_review_stats(args: argparse.Namespace) -> int:
    if is_compare_dir(args.dataset):  # a preference review (qilin data compare), see cli/preferences.py
        from qilin.cli.preferences import preference_stats

        return preference_stats(args)
    from qilin.curation.review import review_stats

    stats = review_stats(args.dataset)
    for name, n in stats["decided"].items():
        log.info(f"{name}: {n} items decided")
    if not stats["pairs"]:
        log.info("agreement needs decisions from two reviewers")
    for pair in stats["pairs"]:
        kappa = "undefined" if pair["kappa"] is None else f"{pair['kappa']:.3f}"
        percent = "-" if pair["percent_agreement"] is None else f"{pair['percent_agreement']:.1f}%"
        log.info(f"{' vs '.join(pair['reviewers'])}: {pair['items']} shared items, agreement {percent}, kappa {kappa}")
    log.info(f"wrote {Path(args.dataset) / 'review' / 'agreement.json'}")
    return 0


COMMANDS = {
    "translate": cmd_translate,
    "review": cmd_review,
    "review-apply": cmd_review_apply,
    "review-stats": cmd_review_stats,
}


def run(args: argparse.Namespace) -> int:
    """Run `qilin data translate | review | review-apply | review-stats`."""
    return COMMANDS[args.data_verb](args)


def add_parser(data_verbs: argparse._SubParsersAction) -> None:
    """Add translate, review, review-apply and review-stats under `qilin data`."""
    from qilin.curation.sources import FORMAT_NAMES, GENERIC_ROLES

    translate = data_verbs.add_parser(
        "translate",
        help="translate English image-text data to Chinese through an LLM, with checks (ChiMed-VL)",
        description="Translate every caption, case, question and answer of SOURCE through an OpenAI-compatible "
        "chat endpoint (POST ENDPOINT/chat/completions), check each translation (untranslated English, numbers "
        "and units, left/right, glossary terms, length, optional back-translation) and write OUT/captions.jsonl "
        "(caption items), OUT/conversations.json (QA items, LLaVA format), OUT/flags.jsonl and OUT/summary.json. "
        "Every translation is cached in OUT/cache.jsonl as soon as it arrives: run the same command again to "
        "resume after a crash or to retry failures, at no cost for what is done. Items that fail after all "
        "retries are listed in OUT/failures.jsonl (exit 1). An endpoint that refuses the requests (HTTP 401, 403, "
        "404: a wrong key, URL or model) stops the run at once with its message (exit 2).",
        epilog="source formats (--format auto detects by the first record's fields):\n"
        "  pmc-oa       JSONL {image, caption}\n"
        "  case-report  JSONL {image, context|case, question, answer} (PMC-CaseReport)\n"
        "  llava-med    JSON/JSONL {id, image, conversations: [{from, value}, ...]}\n"
        f"  generic      CSV/JSONL with --fields ROLE=COLUMN,... (roles: {', '.join(GENERIC_ROLES)})\n"
        "example:\n  qilin data translate pmc_oa.jsonl --to zh --endpoint http://127.0.0.1:8000/v1 "
        "--model qwen2-72b-instruct --glossary terms.csv --out chimed_vl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    translate.add_argument("source", help="English source file (.jsonl, .json or .csv)")
    translate.add_argument("--to", choices=("zh",), default="zh", help="target language (default: zh)")
    translate.add_argument("--endpoint", required=True, help="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    translate.add_argument("--model", required=True, help="model name the endpoint serves")
    translate.add_argument("--api-key", help="bearer token (default: $OPENAI_API_KEY; none for a local server)")
    translate.add_argument("--format", choices=FORMAT_NAMES, default="auto", help="source format (default: auto)")
    translate.add_argument("--fields", help="generic format's columns, e.g. image=img_path,text=caption")
    translate.add_argument("--glossary", help="JSON or CSV of English -> Chinese terms that must translate one way")
    translate.add_argument("--images", help="the source's image folder (default: the source file's folder)")
    translate.add_argument("--out", help="output directory (default: SOURCE's name + _zh beside it)")
    translate.add_argument("--cache", help="translation cache file (default: OUT/cache.jsonl)")
    translate.add_argument("--concurrency", type=int, default=4, help="requests open at once (default: 4)")
    translate.add_argument(
        "--retries",
        type=int,
        default=5,
        help="retries per request after the first try, each after the openai client's backoff or the server's "
        "Retry-After (default: 5)",
    )
    translate.add_argument(
        "--backoff",
        type=float,
        default=1.0,
        help="seconds before our own first retry (a reply whose body is unusable, a Retry-After the openai client "
        "will not wait for), doubled after; the client's retries of errors use its own backoff",
    )
    translate.add_argument("--timeout", type=float, default=120.0, help="seconds one request may take (default: 120)")
    translate.add_argument(
        "--back-translate", action="store_true", help="also translate back to English and flag low token overlap"
    )
    translate.set_defaults(func=run)

    review = data_verbs.add_parser(
        "review",
        help="review translated items, or two answers to compare, in a local web page",
        description="Serve a review page on 127.0.0.1 for DIR (the --out of `qilin data translate`): each item's "
        "source text, image, editable translation and flags, with Accept / Save edit / Reject. Keys: a accept, "
        "r reject, e edit, ctrl+enter save the edit, j/k next/previous. Every decision is appended to "
        "DIR/review/decisions-REVIEWER.jsonl the moment it is made. The queue samples every kind/flag stratum, "
        "flagged items first; the same --seed gives two reviewers the same items. On a `qilin data compare` "
        "directory: the two answers to each question side by side, blind and in random left/right order; keys "
        "1 left better, 2 right better, t tie, w/u/i/o/v tag the worse answer (wrong fact, unsafe, incomplete, "
        "off-topic, verbose), e edit the better answer, ctrl+enter save the edit, j/k next/previous.",
    )
    review.add_argument("dataset", metavar="DIR", help="translation output directory, or a compare directory")
    review.add_argument("--reviewer", required=True, help="your name (letters, digits, . - _)")
    review.add_argument("--sample", type=int, help="review N sampled items (default: all)")
    review.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    review.add_argument("--images", help="image folder (default: the one recorded in DIR/summary.json)")
    review.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default: 8765)")
    review.set_defaults(func=run)

    apply = data_verbs.add_parser(
        "review-apply",
        help="write the reviewed dataset (accepted and edited items), or DPO pairs from preferences",
        description="Write the final dataset to OUT: accepted items as translated, edited items with the "
        "reviewer's text, rejected items removed, unreviewed items dropped (or kept with --keep-unreviewed). "
        "Where reviewers disagree on an item, the latest decision counts. On a `qilin data compare` directory: "
        "write DPO pairs (prompt, chosen, rejected) to the file OUT; an item is a pair when more than half of its "
        "reviewers pick the same answer, its chosen text their latest edit if they edited it; ties and items "
        "without a majority are dropped and counted.",
    )
    apply.add_argument("dataset", metavar="DIR", help="translation output directory, or a compare directory")
    apply.add_argument(
        "--out",
        required=True,
        help="directory for the reviewed dataset (not DIR); for a compare directory, the "
        "DPO pairs file (e.g. pairs.jsonl)",
    )
    apply.add_argument("--reviewer", action="append", help="use only this reviewer's decisions (repeatable)")
    apply.add_argument("--keep-unreviewed", action="store_true", help="keep items nobody reviewed (translations)")
    apply.set_defaults(func=run)

    stats = data_verbs.add_parser(
        "review-stats",
        help="agreement between reviewers (percent agreement, Cohen's kappa)",
        description="For every pair of reviewers of DIR, over the items both decided: percent agreement and "
        "Cohen's kappa over accept/edit/reject. Written to DIR/review/agreement.json. On a `qilin data compare` "
        "directory: per reviewer counts of A/B/tie, edits, how often the left answer was picked and agreement with "
        "the others; per pair, agreement and kappa on the decisions mapped back to answer A/B.",
    )
    stats.add_argument("dataset", metavar="DIR", help="translation output directory, or a compare directory")
    stats.set_defaults(func=run)
