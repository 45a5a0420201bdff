"""Build a retrieval index over medical texts, and search it: BM25 over jieba words, or dense embeddings.

An index is a directory, written whole or not at all (built as `<out_dir>.tmp`, then renamed):

    index.json              format, kind, settings, corpus files with sha256 and counts, embedding model
    passages.jsonl          {"text", "source", "doc"} per passage, in index order
    bm25/                   (bm25) bm25s score matrix as .npy, vocabulary and parameters as JSON
    embeddings.safetensors  (dense) "embeddings": (N, H) float32 unit vectors, row i = passage i

Nothing in it is a pickle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from qilin.data.records import DataError
from qilin.durable import replace_dir_atomic
from qilin.hashing import file_sha256
from qilin.rag.embedding import Embedder
from qilin.rag.passages import read_passages

INDEX_FORMAT = "qilin-rag-index"
INDEX_FILE = "index.json"
KINDS = ("bm25", "dense")
BM25_TOKENIZER = "jieba.lcut_for_search, lowercased, tokens without a letter or digit dropped"
# Below this a progress bar is noise: tokenizing or embedding takes well under a second.
_PROGRESS_MIN = 1000


@dataclass(frozen=True)
class Passage:
    """One search hit: its text, its score (BM25, or cosine for dense), the corpus file and document number in it."""

    text: str
    score: float
    source: str
    doc: int


def bm25_tokens(text: str) -> list[str]:
    """jieba search-mode words of `text`, lowercased, without whitespace or punctuation tokens."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [w.lower() for w in jieba.lcut_for_search(text) if any(c.isalnum() for c in w)]


class Retriever:
    """A loaded index: the best passages for a query."""

    def __init__(self, info: dict[str, Any], passages: list[dict], score: Callable[[str], np.ndarray]):
        self.info = info
        self.kind: str = info["kind"]
        self.passages = passages
        self._score = score

    def search(self, query: str, k: int = 3) -> list[Passage]:
        """At most `k` passages for `query`, best first; none for a blank query.

        BM25 leaves out passages sharing no word with the query (score 0): they are no reference for it.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if not query.strip():
            return []
        scores = self._score(query)  # (N,)
        # A stable sort keeps ties in index order, so equal inputs give equal results; 1M scores sort in ~0.1 s.
        order = np.argsort(-scores, kind="stable")[:k]
        hits = [(self.passages[i], float(scores[i])) for i in order]
        return [Passage(p["text"], s, p["source"], p["doc"]) for p, s in hits if self.kind != "bm25" or s > 0]


def _build_bm25(texts: list[str], progress: bool) -> Any:
    import bm25s

    vocab: dict[str, int] = {}
    ids = [
        [vocab.setdefault(token, len(vocab)) for token in bm25_tokens(text)]
        for text in tqdm(texts, desc="tokenizing passages", unit=" passages", disable=not progress)
    ]
    bm25 = bm25s.BM25()  # Lucene BM25, k1=1.5, b=0.75
    # Token ids with our own first-seen vocabulary, not token lists: bm25s 0.3 numbers a token list's vocabulary by
    # iterating a set, whose order changes with PYTHONHASHSEED, so the saved files would differ from run to run.
    # No empty token: bm25s adds it past the end of the score matrix, and a query without known words is ours to handle.
    bm25.index((ids, vocab), create_empty_token=False, show_progress=False)
    return bm25


def build_index(
    corpus_paths: list[Path],
    out_dir: Path,
    kind: str = "bm25",
    embedding_model: Path | None = None,
    passage_chars: int = 200,
) -> Path:
    """Split the corpus into unique passages of at most `passage_chars` characters, index them, write `out_dir`."""
    out_dir = Path(out_dir)
    if kind not in KINDS:
        raise ValueError(f"unknown index kind {kind!r} for {out_dir}; expected one of: {', '.join(KINDS)}")
    if kind == "dense" and embedding_model is None:
        raise ValueError(f"the dense index {out_dir} needs embedding_model, a local Hugging Face model directory")
    if not corpus_paths:
        raise ValueError(f"no corpus files given for the index {out_dir}")
    # Only an index or an empty directory is replaced: out_dir could be a typo for a directory of the user's.
    replaceable = (out_dir / INDEX_FILE).is_file() or (out_dir.is_dir() and not any(out_dir.iterdir()))
    if out_dir.exists() and not replaceable:
        raise DataError(out_dir, "", "exists and is not a Qilin RAG index (no index.json); refusing to replace it")
    corpus_paths = [Path(p) for p in corpus_paths]
    # The model loads before the corpus is read, so a wrong model path fails in seconds, not after the reading.
    embedder = Embedder(Path(embedding_model)) if kind == "dense" else None
    passages, documents, duplicates = read_passages(corpus_paths, passage_chars)
    texts = [p["text"] for p in passages]
    progress = len(texts) >= _PROGRESS_MIN

    def fill(tmp: Path) -> None:
        if embedder is None:
            bm25 = _build_bm25(texts, progress)
            # bm25s writes .npy with the allow_pickle we pass and JSON for the rest, so its own format is pickle-free.
            bm25.save(tmp / "bm25", allow_pickle=False, show_progress=False)
            settings = {"tokenizer": BM25_TOKENIZER, "method": bm25.method, "k1": bm25.k1, "b": bm25.b}
        else:
            from safetensors.numpy import save_file

            vectors = embedder.encode(texts, progress)  # (N, H)
            save_file({"embeddings": vectors}, str(tmp / "embeddings.safetensors"))
            settings = {"pooling": "mean over the attention mask, L2-normalised", "dim": int(vectors.shape[1])}
        with (tmp / "passages.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in passages)
        info = {
            "format": INDEX_FORMAT,
            "kind": kind,
            "passage_chars": passage_chars,
            "settings": settings,
            "embedding_model": str(Path(embedding_model).resolve()) if embedding_model is not None else None,
            "corpus": [
                {"path": str(p), "sha256": file_sha256(p), "documents": documents[str(p)]} for p in corpus_paths
            ],
            "passages": len(passages),
            "duplicates_removed": duplicates,
        }
        (tmp / INDEX_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    replace_dir_atomic(out_dir, fill)
    return out_dir


def load_index(path: Path) -> Retriever:
    """Open an index directory written by build_index."""
    path = Path(path)
    if not (path / INDEX_FILE).is_file():
        raise DataError(path, "", "not a Qilin RAG index: no index.json (build one with qilin.rag.build_index)")
    info = json.loads((path / INDEX_FILE).read_text(encoding="utf-8"))
    if info.get("format") != INDEX_FORMAT or info.get("kind") not in KINDS:
        raise DataError(path / INDEX_FILE, "", f"expected format {INDEX_FORMAT!r} and kind one of {', '.join(KINDS)}")
    with (path / "passages.jsonl").open(encoding="utf-8") as f:
        passages = [json.loads(line) for line in f]
    if info["kind"] == "bm25":
        import bm25s

        bm25 = bm25s.BM25.load(path / "bm25", allow_pickle=False, load_corpus=False)
        rows = bm25.scores["num_docs"]

        def score(query: str) -> np.ndarray:
            return bm25.get_scores_from_ids(bm25.get_tokens_ids(bm25_tokens(query)))
    else:
        from safetensors.numpy import load_file

        vectors = load_file(str(path / "embeddings.safetensors"))["embeddings"]  # (N, H)
        rows = len(vectors)
        embedder = Embedder(Path(info["embedding_model"]))

        def score(query: str) -> np.ndarray:
            return vectors @ embedder.encode([query])[0]  # cosine: both sides are unit vectors

    if rows != len(passages):
        raise DataError(path, "", f"the index holds {rows} rows but passages.jsonl {len(passages)}; rebuild it")
    return Retriever(info, passages, score)


def open_retriever(path: str | Path | None) -> Retriever | None:
    """The index at `path` (a `--rag INDEX` option), or None when none is given."""
    return load_index(Path(path)) if path else None
