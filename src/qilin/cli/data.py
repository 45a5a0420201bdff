"""`qilin data check | build | problems | deid`; its other verbs come from cli/curation.py and cli/preferences.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from qilin.data.records import expand_paths
from qilin.log import get_logger

log = get_logger(__name__)

VL_KINDS = ("vl", "caption", "pmcvqa")
TEXT_SUFFIXES = (".jsonl", ".json", ".txt")  # what a directory given for text data is read for
DEID_SUFFIXES = (".txt", ".md", ".jsonl", ".json", ".csv")
WORKERS_HELP = "processes for large files (default: every core; 1: none; files under 2,000 records use none)"


def cmd_check(args: argparse.Namespace) -> int:
    if args.phi:
        return cmd_check_phi(args)
    if args.kind is None:
        log.error("qilin data check: --kind is required (unless --phi)")
        return 2
    ok = True
    if args.kind in VL_KINDS:
        from qilin.data.vision.check import check_vl_file

        for name in expand_paths(args.files, (".jsonl", ".json", ".csv")):
            report = check_vl_file(Path(name), args.kind, Path(args.images) if args.images else None)
            bad = len(report.bad_images)
            log.info(f"{report.path}: {args.kind} data, {report.records} records, {bad} with a bad image")
            if report.bad_images:
                log.info(f"  first bad record: {report.bad_images[0]}")
                ok = False
        return 0 if ok else 1
    from qilin.data.text.stats import describe_file

    for path in expand_paths(args.files, TEXT_SUFFIXES):
        report, summary = describe_file(path, args.kind, args.tokenizer)
        log.info(summary)
        ok = ok and report.bad == 0
    return 0 if ok else 1


def cmd_build(args: argparse.Namespace) -> int:
    from qilin.chimed import build_chimed, kb_from_triples, load_kb
    from qilin.data.text.formats import iter_file, read_file
    from qilin.privacy.files import deid_user_data

    diseases = kb_from_triples(args.triples) if args.triples else load_kb(args.kb)
    extra_text = [doc for path in expand_paths(args.text, TEXT_SUFFIXES) for doc in iter_file(path, "cpt")]
    conversation_files = expand_paths(args.conversations, TEXT_SUFFIXES)
    extra_conversations = [c for path in conversation_files for c in read_file(path, "sft")]
    if not args.keep_phi and (extra_text or extra_conversations):
        extra_text, extra_conversations, phi = deid_user_data(extra_text, extra_conversations)
        log.info(f"de-identified your texts and conversations (--keep-phi to skip): {phi.table()}")
    report = build_chimed(
        diseases,
        Path(args.out),
        seed=args.seed,
        held_out_fraction=args.held_out,
        extra_text=extra_text,
        extra_conversations=extra_conversations,
    )
    log.info(report["filter_summary"])
    counts = ("diseases", "cpt_documents", "cpt_characters", "sft_conversations", "dpo_pairs", "exam_test", "exam_dev")
    for key in counts:
        log.info(f"{key:<18} {report[key]}")
    log.info(f"{'qa_test':<18} {report['qa_test']}\nleakage check: no test item appears in the training text")
    log.info(f"wrote {args.out}")
    return 0


def cmd_check_phi(args: argparse.Namespace) -> int:
    """`data check --phi`: PHI left in each file, per type; exit 1 if any."""
    from qilin.privacy.files import scan_file

    left = 0
    for name in expand_paths(args.files, DEID_SUFFIXES):
        report = scan_file(name, workers=args.workers)
        log.info(f"{name}: {report.table()}")
        left += report.total
    return 1 if left else 0


def cmd_deid(args: argparse.Namespace) -> int:
    """`data deid`: write each file de-identified under --out, and deid_report.json."""
    from qilin.privacy.files import deid_files

    files = expand_paths(args.files, DEID_SUFFIXES)
    report = deid_files(files, Path(args.out), surrogates=args.surrogates, workers=args.workers)
    log.info(report.table())
    log.info(f"wrote {len(files)} file(s) and deid_report.json to {args.out}")
    return 0


def cmd_problems(args: argparse.Namespace) -> int:
    """`data problems`: verifiable problems from exam train splits and a knowledge base, evaluation items dropped."""
    from qilin.chimed.knowledge import kb_from_triples, load_kb
    from qilin.eval.benchmarks import read_benchmark
    from qilin.rl.problem_builder import build_problems, knowledge_problems

    sources = []
    for path in args.mcq:
        fmt, questions = read_benchmark(path, args.format)
        sources.append((f"{fmt}:{Path(path).name}", questions))
    if not args.no_kb:
        everyone = kb_from_triples(args.triples) if args.triples else load_kb(args.kb)
        skip = set(args.exclude_diseases)
        sources.append(("kb", knowledge_problems([d for d in everyone if d.name not in skip], everyone, args.seed)))
    if not sources:
        log.error("qilin data problems: nothing to build from (give --mcq files, or leave the knowledge base on)")
        return 2
    items = [q.question for path in args.eval for q in read_benchmark(path)[1]]
    report = build_problems(sources, items, Path(args.out))
    log.info(
        f"wrote {report['problems']} problems ({report['multi_answer']} multi-answer) to {args.out}/problems.jsonl"
    )
    return 0


COMMANDS = {"check": cmd_check, "build": cmd_build, "problems": cmd_problems, "deid": cmd_deid}


def run(args: argparse.Namespace) -> int:
    """Run `qilin data check | build | problems | deid`."""
    return COMMANDS[args.data_verb](args)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    """Add `data`: check, build, problems and deid, then the verbs of cli/curation.py and cli/preferences.py."""
    from qilin.cli import curation, preferences

    data = verbs.add_parser("data", help="check, build and curate data files", description="Work with data files.")
    data_verbs = data.add_subparsers(dest="data_verb", required=True, metavar="VERB")
    check = data_verbs.add_parser(
        "check",
        help="validate files and print record and token statistics",
        description="Read FILE in any accepted format of KIND; print the detected format, record count and "
        "token statistics, or name the file, line and field of the first bad record and count all bad "
        "ones (exit 1).",
    )
    check.add_argument("files", nargs="+", help="data files")
    check.add_argument("--kind", choices=("cpt", "sft", "dpo", *VL_KINDS), help="what the file is for (not with --phi)")
    check.add_argument("--images", help="image folder of a VL file (default: the file's folder)")
    check.add_argument("--tokenizer", help="local model directory whose tokenizer counts tokens (else characters)")
    check.add_argument(
        "--phi", action="store_true", help="count the PHI left in the files with the deid detector (exit 1 if any)"
    )
    check.add_argument("--workers", type=int, help=f"with --phi: {WORKERS_HELP}")
    check.set_defaults(func=run)

    build = data_verbs.add_parser(
        "build",
        help="build ChiMed-style CPT/SFT/DPO data and test sets from a knowledge base",
        description="Turn a medical knowledge base (the bundled one, your own JSON in the same schema, or your "
        "triples) plus your own texts and conversations into chimed_cpt.jsonl, chimed_sft.jsonl, "
        "chimed_dpo.jsonl, a CMExam-format exam (cmexam_test.csv, cmexam_dev.csv) and a Huatuo-format QA "
        "test (huatuo_test.jsonl). Deduplicates, filters, and refuses to write if any test item appears in "
        "the training text. Deterministic given --seed.",
    )
    build.add_argument("--out", required=True, help="output directory")
    source = build.add_mutually_exclusive_group()
    source.add_argument("--kb", help="knowledge base JSON (default: the bundled one)")
    source.add_argument("--triples", help="CSV (head,relation,tail) or JSONL triples, e.g. 高血压,department,心内科")
    build.add_argument("--text", nargs="*", default=[], help="extra plain-text corpora for CPT (any cpt format)")
    build.add_argument("--conversations", nargs="*", default=[], help="extra QA/dialogue files (any sft format)")
    build.add_argument("--held-out", type=float, default=0.2, help="share of diseases kept out of SFT/DPO/QA text")
    build.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    build.add_argument(
        "--keep-phi", action="store_true", help="train on --text/--conversations as given (default: de-identify)"
    )
    build.set_defaults(func=run)

    problems = data_verbs.add_parser(
        "problems",
        help="build verifiable multiple-choice problems for GRPO from exam train splits and a knowledge base",
        description="Turn multiple-choice files (train splits of CMExam, CMB, MedQA, CMMLU, MedMCQA or a generic "
        "layout, detected as `qilin eval mcq` does) and a knowledge base (facts as cloze and multiple-choice items "
        "under several phrasings) into problems.jsonl with checkable answers, dropping every problem whose stem is a "
        "near duplicate of an item of the --eval files, with counts per source in problems_report.json.",
    )
    problems.add_argument("--out", required=True, help="output directory")
    problems.add_argument("--mcq", nargs="*", default=[], help="multiple-choice files (train splits)")
    problems.add_argument("--format", default="auto", help="layout of the --mcq files (default: detected per file)")
    problems.add_argument("--eval", nargs="*", default=[], help="evaluation files whose items no problem may repeat")
    source = problems.add_mutually_exclusive_group()
    source.add_argument("--kb", help="knowledge base JSON (default: the bundled one)")
    source.add_argument("--triples", help="CSV (head,relation,tail) or JSONL triples")
    source.add_argument("--no-kb", action="store_true", help="build from the --mcq files only")
    problems.add_argument(
        "--exclude-diseases", nargs="*", default=[], help="diseases no knowledge problem may ask about (held out)"
    )
    problems.add_argument("--seed", type=int, default=0, help="seed for the distractors and their order")
    problems.set_defaults(func=run)

    deid = data_verbs.add_parser(
        "deid",
        help="replace protected health information (names, IDs, phones, addresses, dates, ...) in data files",
        description="Write each FILE (CPT .txt/.jsonl, SFT, DPO, VL caption/conversation .jsonl/.json, PMC-VQA .csv) "
        "under --out with the same name and structure, every text field's PHI replaced by typed, indexed "
        "placeholders ([姓名1], [电话1], [NAME1]; the same value keeps its placeholder within a record), and "
        "deid_report.json (counts and examples in context, values masked, per type). Rule-based: read a sample "
        "of the output by hand. Large files are split over worker processes (output order and placeholders kept).",
    )
    deid.add_argument("files", nargs="+", help="data files")
    deid.add_argument("--out", required=True, help="output directory (file names are kept)")
    deid.add_argument(
        "--surrogates", action="store_true", help="realistic fake values instead of placeholders (for CPT text)"
    )
    deid.add_argument("--workers", type=int, help=WORKERS_HELP)
    deid.set_defaults(func=run)

    curation.add_parser(data_verbs)
    preferences.add_parser(data_verbs)
