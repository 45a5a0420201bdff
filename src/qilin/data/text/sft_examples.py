"""SFT training examples: conversations tokenized with assistant-only labels, in worker processes for large inputs,
cached in `$QILIN_CACHE/sft`.

    examples, dropped = build_sft_examples(paths, tokenizer, max_length, data_hashes, processes=8)

The examples depend on the data, the tokenizer with its chat template, and max_length; not on the learning rate or
any other training setting. So, like CPT's packed corpus, they are cached under a key of exactly those (each file's
content hash, `tokenizer_fingerprint`, the chat template and the special tokens it renders, max_length,
SFT_CACHE_VERSION), and a rerun with a new learning rate reads them back instead of tokenizing again. The cache is
one `.bin` of int32 (each example's length, then every example's ids, then every example's labels) and a `.json`
with the counts and a checksum, checked before use; a damaged file is rebuilt, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from qilin.chat_templates import IGNORE_INDEX
from qilin.data.text.conversations import conversation_tokenizer
from qilin.data.text.formats import read_file
from qilin.data.text.packed_cache import build_once, cache_dir, sampled_sha256, tokenizer_fingerprint
from qilin.data.text.tokenize_corpus import CorpusTokenizer, refuse_in_worker
from qilin.durable import write_atomic
from qilin.hashing import file_sha256
from qilin.log import get_logger

log = get_logger(__name__)

# Bump when the examples change for the same inputs (reading, tokenizing, dropping rules, file layout).
SFT_CACHE_VERSION = 1
CONVERSATIONS_PER_BATCH = 256  # one render call and one encode call per batch; a worker's unit of work
# Workers start in about 2 s each (importing transformers, loading the tokenizer): not worth it for fewer
# conversations than this per worker.
_CONVERSATIONS_PER_PROCESS = 4096
# One process already keeps about two cores busy (the tokenizers library encodes a batch on all cores while Python
# renders and labels), so fewer workers than this lose: on 2 cores, 16,000 conversations took 16.6 s with 2
# workers and 13.4 s without.
_MIN_WORKERS = 3


class PromptTransform(Protocol):
    """Rewrites conversations before tokenizing (retrieved passages in front of prompts: qilin.rag.training).

    `key` names everything the result depends on besides the conversations; `stats` describes the last call
    and is kept with the cached examples.
    """

    key: str
    stats: dict[str, Any]

    def __call__(self, conversations: list[list[dict[str, str]]]) -> list[list[dict[str, str]]]: ...


def examples_cache_key(data_hashes: list[str], tokenizer: Any, max_length: int, transform_key: str = "") -> str:
    """Key of tokenized SFT examples: the files' contents, the tokenizer and its template, max_length, the version,
    and the key of a prompt transform if one rewrote the conversations."""
    h = hashlib.sha256()
    h.update(json.dumps(data_hashes).encode())
    h.update(tokenizer_fingerprint(tokenizer).encode())
    # the template and the special-token strings it may render (bos_token, eos_token, ...)
    template = [tokenizer.chat_template, sorted(tokenizer.special_tokens_map.items())]
    h.update(json.dumps(template, ensure_ascii=False, default=str).encode())
    h.update(f"{max_length}|{SFT_CACHE_VERSION}".encode() + (f"|{transform_key}".encode() if transform_key else b""))
    return h.hexdigest()[:16]


def _tokenize_batch(
    tokenizer: Any, conversations: list[list[dict[str, str]]], max_length: int
) -> tuple[list[tuple[list[int], list[int]]], Counter[str]]:
    """(input_ids, labels) per conversation and, by reason, how many needed rendering each prefix."""
    tokenize = conversation_tokenizer(tokenizer)
    before = Counter(tokenize.fallbacks)
    return tokenize(conversations, max_length), tokenize.fallbacks - before


def tokenize_sft_conversations(
    conversations: list[list[dict[str, str]]], tokenizer: Any, max_length: int, processes: int = 1
) -> tuple[list[dict[str, list[int]]], int]:
    """Examples with assistant-only labels (in order; the same for any number of processes), and how many
    conversations were dropped because no label was left after truncation."""
    examples, dropped, fallbacks = [], 0, Counter()
    batches = [
        conversations[i : i + CONVERSATIONS_PER_BATCH] for i in range(0, len(conversations), CONVERSATIONS_PER_BATCH)
    ]
    work = partial(_tokenize_batch, max_length=max_length)
    with (
        CorpusTokenizer(tokenizer, processes) as pool,
        tqdm(total=len(conversations), desc="tokenizing conversations", unit=" conv", mininterval=2) as progress,
    ):
        for pairs, reasons in pool.map(work, batches):
            fallbacks.update(reasons)
            progress.update(len(pairs))
            for ids, labels in pairs:
                if all(label == IGNORE_INDEX for label in labels):
                    dropped += 1
                    continue
                examples.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    for reason, n in fallbacks.items():
        log.info(f"{n} of {len(conversations)} conversations tokenized by rendering each prefix (slower): {reason}")
    return examples, dropped


def write_examples(
    path: Path, examples: list[dict[str, list[int]]], dropped: int, transform_stats: dict[str, Any] | None = None
) -> None:
    """Write examples to `path` and their counts, checksum (and prompt transform's stats) to its `.json`; the `.bin`
    appears last."""
    lengths = np.array([len(e["input_ids"]) for e in examples], dtype=np.int32)
    flat = [np.asarray(e[key], dtype=np.int32) for key in ("input_ids", "labels") for e in examples]
    data = np.concatenate([lengths, *flat]).astype(np.int32).tobytes()
    meta = {
        "examples": len(examples),
        "tokens": int(lengths.sum()),
        "dropped": dropped,
        "checksum": sampled_sha256(data),
        **({"transform": transform_stats} if transform_stats is not None else {}),
    }
    write_atomic(path.with_suffix(".json"), json.dumps(meta))
    write_atomic(path, data)


def check_examples(path: Path) -> str | None:
    """None if a cached examples file agrees with its `.json` (size, example and token counts, checksum)."""
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        n, tokens = int(meta["examples"]), int(meta["tokens"])
        checksum = meta["checksum"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"its metadata {path.with_suffix('.json').name} is missing or unreadable ({type(e).__name__}: {e})"
    expected = (n + 2 * tokens) * np.dtype(np.int32).itemsize
    size = path.stat().st_size
    if size != expected:
        return f"{size} bytes, where {n} examples of {tokens} tokens take {expected}"
    lengths = np.fromfile(path, dtype=np.int32, count=n)
    if int(lengths.sum(dtype=np.int64)) != tokens or (lengths <= 0).any():
        return f"its example lengths do not add up to the {tokens} tokens of its metadata"
    if sampled_sha256(path) != checksum:
        return "its contents do not match the checksum in its metadata"
    return None


def read_examples(path: Path) -> tuple[list[dict[str, list[int]]], int]:
    """The examples and the dropped count of a file `write_examples` wrote (and `check_examples` passed)."""
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    n, tokens = meta["examples"], meta["tokens"]
    data = np.fromfile(path, dtype=np.int32)
    ends = np.cumsum(data[:n])[:-1]
    ids = np.split(data[n : n + tokens], ends)
    labels = np.split(data[n + tokens :], ends)
    examples = (
        [
            {"input_ids": i.tolist(), "attention_mask": [1] * len(i), "labels": lab.tolist()}
            for i, lab in zip(ids, labels, strict=True)
        ]
        if n
        else []
    )
    return examples, meta["dropped"]


def build_sft_examples(
    paths: list[Path],
    tokenizer: Any,
    max_length: int,
    data_hashes: list[str] | None = None,
    processes: int = 1,
    cache: Path | None = None,
    transform: PromptTransform | None = None,
) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenized examples with assistant-only labels, and how many were dropped (no label left after truncation),
    from the cache (default $QILIN_CACHE/sft) if tokenized before; `data_hashes` default to the files' sha256.

    Up to `processes` workers tokenize, one per 4,096 conversations, if that makes 3 or more; every process of a
    launched run may call this: one tokenizes under the cache's lock, the others wait for it and read the result.
    A `transform` rewrites the conversations first (once: its result is cached with the examples, under its key);
    its `stats` are set from the cache on a hit.
    """
    refuse_in_worker("SFT")
    hashes = data_hashes if data_hashes is not None else [file_sha256(p) for p in paths]
    key = examples_cache_key(hashes, tokenizer, max_length, transform.key if transform is not None else "")
    path = (cache or cache_dir("sft")) / f"examples-{key}.bin"
    built: dict[str, Any] = {}

    def build() -> None:
        conversations = [messages for p in paths for messages in read_file(p, "sft")]
        if transform is not None:
            conversations = transform(conversations)
        workers = min(processes, math.ceil(len(conversations) / _CONVERSATIONS_PER_PROCESS))
        workers = workers if workers >= _MIN_WORKERS else 1
        examples, dropped = tokenize_sft_conversations(conversations, tokenizer, max_length, workers)
        write_examples(path, examples, dropped, transform.stats if transform is not None else None)
        built.update(examples=examples, dropped=dropped)
        log.info(f"tokenized {len(conversations)} conversations ({workers} processes) into {path}")

    if build_once(path, build, check_examples):
        return built["examples"], built["dropped"]
    log.info(f"tokenized conversations read from the cache: {path}")
    if transform is not None:
        transform.stats = json.loads(path.with_suffix(".json").read_text(encoding="utf-8")).get("transform", {})
    return read_examples(path)
