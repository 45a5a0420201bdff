"""`qilin rag index`: build a retrieval index (Qilin-Med-RAG) that chat, serve and eval read with --rag;
`qilin rag recall`: recall@k of indexes on an exam."""

from __future__ import annotations

import argparse
from pathlib import Path

from qilin.config import ConfigError
from qilin.log import get_logger

log = get_logger(__name__)


def cmd_rag_index(args: argparse.Namespace) -> int:
    from qilin.rag.index import build_index, load_index

    try:
        out = build_index(
            [Path(c) for c in args.corpus],
            Path(args.out),
            kind=args.kind,
            embedding_model=Path(args.embedding_model) if args.embedding_model else None,
            passage_chars=args.passage_chars,
        )
    except ValueError as e:
        raise ConfigError(str(e)) from e
    info = load_index(out).info
    log.info(f"wrote {out}: {info.get('passages')} passages from {len(args.corpus)} file(s), {info.get('kind')}")
    return 0


def cmd_rag_recall(args: argparse.Namespace) -> int:
    """`qilin rag recall`: recall@1 and recall@k of each index on an exam."""
    from qilin.eval.multiple_choice import read_cmexam
    from qilin.eval.retrieval import recall_metrics
    from qilin.rag.index import load_index

    questions = read_cmexam(args.data)
    for index in args.index:
        retriever = load_index(Path(index))
        for key, value in recall_metrics(questions, retriever, args.k, "exam").items():
            k = key.rsplit("_", 1)[1]
            log.info(f"{index} ({retriever.kind}): recall@{k} {value}% of {len(questions)} questions")
    return 0


COMMANDS = {"index": cmd_rag_index, "recall": cmd_rag_recall}


def run(args: argparse.Namespace) -> int:
    """Run `qilin rag index` or `qilin rag recall`."""
    return COMMANDS[args.rag_verb](args)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    """Add `rag` with index and recall."""
    rag = verbs.add_parser("rag", help="retrieval over medical texts", description="Retrieval (Qilin-Med-RAG).")
    rag_verbs = rag.add_subparsers(dest="rag_verb", required=True, metavar="VERB")
    rag_index = rag_verbs.add_parser(
        "index",
        help="build a retrieval index",
        description="Split medical texts (.txt: a document per line or per blank-line paragraph; .jsonl/.json "
        "with 'text') into passages and index them: BM25 over jieba words, or dense vectors from a local "
        "embedding model. The index is a directory (no pickles) that --rag on chat, serve and eval mcq reads.",
    )
    rag_index.add_argument("corpus", nargs="+", help="text files to index")
    rag_index.add_argument("--out", required=True, help="index directory to write")
    rag_index.add_argument("--kind", choices=("bm25", "dense"), default="bm25", help="retrieval method")
    rag_index.add_argument("--embedding-model", help="local HF encoder directory (--kind dense)")
    rag_index.add_argument("--passage-chars", type=int, default=200, help="longest passage in characters")
    rag_index.set_defaults(func=run)
    recall = rag_verbs.add_parser(
        "recall",
        help="recall@k of indexes on an exam",
        description="Share of exam questions (CMExam CSV) with a passage holding every correct option's text among "
        "the top 1 and top k passages retrieved by question and options: whether a miss is the retriever's or the "
        "model's.",
    )
    recall.add_argument("index", nargs="+", help="index directories (qilin rag index), BM25 or dense")
    recall.add_argument("--data", required=True, help="CMExam-format CSV")
    recall.add_argument("--k", type=int, default=3, help="passages retrieved per question")
    recall.set_defaults(func=run)
