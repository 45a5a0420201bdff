"""The shared caches of tokenized data: `$QILIN_CACHE/cpt` (packed corpora) and `$QILIN_CACHE/sft` (tokenized
conversations); QILIN_CACHE defaults to ~/.cache/qilin, like HF_HOME.

A stage directory is deleted when the stage's config changes (a new learning rate, say); the tokenized data does
not depend on that, so it lives here, keyed by what does change its bytes, and a rerun reuses it instead of
tokenizing again. Safe when runs share it: one writer per key at a time (a file lock; the others wait and then
find the result), every writer writes under its own temporary name, and a crashed writer's leftovers are
removed by the next writer of the same key. A cache file is checked against its own metadata before use (sizes,
counts, a checksum); a damaged one (a disk filling up, a copy cut short) is rebuilt, with a warning naming it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qilin.log import get_logger

log = get_logger(__name__)

_WAIT_POLL_SECONDS = 2.0
_CHECKSUM_SAMPLES = 64  # windows hashed by sampled_sha256: a fixed cost, whatever the file's size
_CHECKSUM_WINDOW = 1 << 16
_TOKENIZER_PROBE = "Qilin 麒麟 probe: 高血压患者常见头晕。\n  Tabs\tand  spaces 123"

# Says whether a cache file is whole: None if so, else what is wrong with it.
Check = Callable[[Path], "str | None"]


def cache_dir(kind: str) -> Path:
    """`$QILIN_CACHE/<kind>`, QILIN_CACHE defaulting to ~/.cache/qilin."""
    return Path(os.environ.get("QILIN_CACHE") or "~/.cache/qilin").expanduser() / kind


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Hash of everything about a tokenizer that changes its ids: vocabulary, rules, special tokens, EOS and pad."""
    h = hashlib.sha256()
    h.update(json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False).encode())
    if getattr(tokenizer, "is_fast", False):  # normalizer, pre-tokenizer, merges, post-processor (BOS), added tokens
        h.update(tokenizer.backend_tokenizer.to_str().encode())
    # what slow (sentencepiece) tokenizers do beyond their vocabulary, such as adding BOS, shows in real output
    h.update(json.dumps(tokenizer([_TOKENIZER_PROBE])["input_ids"]).encode())
    h.update(f"{tokenizer.eos_token_id}|{tokenizer.pad_token_id}".encode())
    return h.hexdigest()


def sampled_sha256(source: Path | bytes) -> str:
    """sha256 of a file's (or bytes') size and of 64 windows of 64 KiB spread evenly over it (all of it up to 4 MiB).

    Cheap for a corpus of any size, yet a truncated, overwritten or shifted file shows; a full hash of tens of
    gigabytes would cost every cache hit minutes.
    """
    if isinstance(source, bytes):
        return _sampled_sha256(len(source), lambda start, n: source[start : start + n])
    with source.open("rb") as f:

        def read(start: int, n: int) -> bytes:
            f.seek(start)
            return f.read(n)

        return _sampled_sha256(source.stat().st_size, read)


def _sampled_sha256(size: int, read: Callable[[int, int], bytes]) -> str:
    h = hashlib.sha256(str(size).encode())
    if size <= _CHECKSUM_SAMPLES * _CHECKSUM_WINDOW:
        h.update(read(0, size))
    else:
        step = (size - _CHECKSUM_WINDOW) // (_CHECKSUM_SAMPLES - 1)
        for k in range(_CHECKSUM_SAMPLES):  # the first and the last window included
            h.update(read(k * step, _CHECKSUM_WINDOW))
    return h.hexdigest()


def _problem(path: Path, check: Check | None) -> str | None:
    if not path.exists():
        return "missing"
    return check(path) if check is not None else None


def build_once(path: Path, build: Callable[[], object], check: Check | None = None) -> bool:
    """Run `build` (which must create `path` atomically) unless `path` exists and passes `check`; True if it built.

    Holds an exclusive lock on `<path>.lock` while it checks and builds, so of two runs wanting the same file one
    builds and the other waits, then finds it. The kernel drops the lock when its holder dies, so a crash never
    leaves the cache locked. A file that fails `check` is rebuilt, with a warning saying what was wrong.
    """
    if _problem(path, check) is None:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info(f"waiting for another process building {path.name} (lock {lock_path})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        problem = _problem(path, check)
        if problem is None:  # built by the process we waited for
            return False
        if problem != "missing":
            log.warning(f"cache file {path} is damaged ({problem}); building it again")
            path.unlink()
        stem = path.name.split(".")[0]
        for leftover in path.parent.glob(f"{stem}.*tmp-*"):  # we hold the lock: no live writer owns these
            leftover.unlink(missing_ok=True)
        build()
        return True


def wait_for_file(path: Path, what: str, check: Check | None = None) -> None:
    """Block until `path` exists and passes `check` (another process is building it), saying so once."""
    if _problem(path, check) is None:
        return
    log.info(f"waiting for the main process to build {what} ({path})")
    while _problem(path, check) is not None:
        time.sleep(_WAIT_POLL_SECONDS)
