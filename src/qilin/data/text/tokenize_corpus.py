"""Tokenize a stream of documents in worker processes, in order and in bounded memory.

    with CorpusTokenizer(tokenizer, processes=8) as tokenize:
        for ids, lengths in tokenize(docs, desc="medical"):  # ids: whole documents end to end, each ending with EOS
            ...
        for result in tokenize.map(work, batches):  # any work(tokenizer, batch), e.g. SFT conversations
            ...

Batches of documents go to the workers in order and come back in the same order (an ordered imap), so the
output does not depend on the number of processes. At most a few batches per worker are in flight, which bounds
memory: `multiprocessing.Pool.imap` lets workers run ahead of a slower consumer (the packer writing to disk)
with their results piling up in memory, and `ProcessPoolExecutor.map` submits the whole corpus at once.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain, islice
from typing import Any

import numpy as np
from tqdm import tqdm

DOCS_PER_BATCH = 512  # large enough that a batch's inter-process transfer is small next to its tokenizing
_IN_FLIGHT_PER_PROCESS = 4  # batches queued per worker: keeps every worker busy, bounds memory

_worker_tokenizer: Any = None  # the tokenizer of a worker process, set once by _start_worker


def default_processes() -> int:
    """Worker processes used when the setting is 0: the CPUs this process may run on, at most 8."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(8, cpus)


def refuse_in_worker(what: str) -> None:
    """Raise if called while a tokenizing worker imports the user's script (one without a main guard).

    Going on, the worker would wait forever for the cache lock its parent holds; failing lets the parent say why.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(f"qilin {what} was started again inside a tokenizing worker (script without a main guard)")


def tokenize_batch(tokenizer: Any, docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(token ids of `docs` end to end, each document followed by EOS, as int32; each document's length)."""
    encoded = tokenizer(docs, return_attention_mask=False)["input_ids"]
    lengths = np.fromiter((len(ids) + 1 for ids in encoded), dtype=np.int64, count=len(encoded))
    ends = np.cumsum(lengths)
    flat = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.int32)
    is_eos = np.zeros(len(flat), dtype=bool)
    is_eos[ends - 1] = True
    flat[is_eos] = tokenizer.eos_token_id
    flat[~is_eos] = np.fromiter(chain.from_iterable(encoded), dtype=np.int32, count=len(flat) - len(encoded))
    return flat, lengths


def _start_worker(tokenizer_file: str) -> None:
    global _worker_tokenizer
    # One thread per worker: the workers are the parallelism, and the tokenizers library would otherwise start
    # a thread per CPU in every one of them.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    with open(tokenizer_file, "rb") as f:
        _worker_tokenizer = pickle.load(f)  # our own file, written by CorpusTokenizer a moment ago


def _work_in_worker(work: Callable[[Any, Any], Any], batch: Any) -> Any:
    return work(_worker_tokenizer, batch)


class CorpusTokenizer:
    """Tokenizes document streams with `processes` workers (1: in this process); a context manager."""

    def __init__(self, tokenizer: Any, processes: int):
        self.tokenizer = tokenizer
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> CorpusTokenizer:
        if self.processes <= 1:
            return self
        # The tokenizer reaches the workers through a file, not as an initializer argument: spawn writes those
        # into a pipe to the child and (seen with CPython 3.11) blocks forever if the child dies before reading them
        # all, and a large vocabulary's pickle is megabytes, far more than a pipe holds.
        self._tmp = tempfile.TemporaryDirectory(prefix="qilin-tokenizer-")
        tokenizer_file = os.path.join(self._tmp.name, "tokenizer.pkl")
        with open(tokenizer_file, "wb") as f:
            pickle.dump(self.tokenizer, f)
        # spawn, not fork: the parent has torch's and the tokenizers library's threads running, and forking a
        # multi-threaded process can deadlock the child (Python 3.12 warns, 3.14 stopped forking by default).
        # A ProcessPoolExecutor, unlike multiprocessing.Pool, raises instead of hanging when a worker dies.
        self._pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(tokenizer_file,),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __call__(self, docs: Iterable[str], desc: str = "tokenizing") -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, lengths) per batch of documents, in the documents' order, with a progress bar in tokens/s."""
        docs = iter(docs)
        batches = iter(lambda: list(islice(docs, DOCS_PER_BATCH)), [])
        with tqdm(desc=desc, unit=" tok", unit_scale=True, mininterval=2) as progress:
            for ids, lengths in self.map(tokenize_batch, batches):
                progress.update(len(ids))
                yield ids, lengths

    def map(self, work: Callable[[Any, Any], Any], batches: Iterable[Any]) -> Iterator[Any]:
        """`work(tokenizer, batch)` of each batch, in the batches' order; `work` must be a module-level function
        (or a functools.partial of one) so that it reaches the workers."""
        if self._pool is None:
            yield from (work(self.tokenizer, batch) for batch in batches)
            return
        pending: deque[Future] = deque()
        try:
            for batch in batches:
                pending.append(self._pool.submit(_work_in_worker, work, batch))
                if len(pending) >= self.processes * _IN_FLIGHT_PER_PROCESS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as e:
            raise RuntimeError(
                "a tokenizing worker process died: out of memory, or (see its error above) a script calling "
                'qilin without `if __name__ == "__main__":`; tokenize_processes: 1 tokenizes without workers'
            ) from e
