"""De-identify many records on every core: worker processes, results in input order, one masker per record.

    for new_texts, spans in deid_records(records_iter, workers=4):   # same order as records_iter
        ...

Each record is de-identified whole inside one worker (its own RecordMasker), so placeholder numbering per record is
the same as in one process; batches are handed out in order and collected in order, so the output is too. Small
inputs (fewer than `min_parallel` records) stay in this process: starting workers costs more than it saves. The
jieba dictionary and the medical word list are loaded before the workers fork, so they share them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from qilin.privacy.record import deid_texts, find_record_phi
from qilin.privacy.spans import Span
from qilin.privacy.tagger import prime

Result = tuple[list[str], list[list[Span]]]
_BATCH = 512  # records per hand-out: large enough to amortise pickling, small enough to keep memory flat
_MIN_PARALLEL = 2_000


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _one(texts: list[str], surrogates: bool, write: bool) -> Result:
    if write:
        return deid_texts(texts, surrogates=surrogates)
    return texts, find_record_phi(texts)


Packed = tuple[list[str] | None, list[list[tuple[str, int, int, str]]]]


def _batch(args: tuple[list[list[str]], bool, bool]) -> list[Packed]:
    """One hand-out, packed small for the trip back: unchanged texts as None, spans as tuples."""
    records, surrogates, write = args
    prime(records)
    out = []
    for texts in records:
        new, spans = _one(texts, surrogates, write)
        packed = [[(s.type, s.start, s.end, s.role) for s in text_spans] for text_spans in spans]
        out.append((None if new == texts else new, packed))
    return out


def _unpack(texts: list[str], packed: Packed) -> Result:
    new, spans = packed
    return (texts if new is None else new), [
        [Span(kind, start, end, text[start:end], role) for kind, start, end, role in text_spans]
        for text, text_spans in zip(texts, spans, strict=True)
    ]


def _warm() -> None:
    """Load what every worker needs once, in the parent, before forking."""
    from qilin.privacy.roles import is_common_word, medical_words, segmenter, tagged_as_name

    segmenter()
    medical_words()
    is_common_word("预热")  # loads jieba's part-of-speech table (about a second)
    tagged_as_name("预热")  # and the tagger's model


def deid_records(
    records: Iterable[list[str]],
    surrogates: bool = False,
    write: bool = True,
    workers: int | None = None,
    min_parallel: int | None = None,
) -> Iterator[Result]:
    """(new texts, spans) for each record (a list of texts), in order; `write=False` finds spans only."""
    workers = default_workers() if workers is None else max(1, workers)
    min_parallel = _MIN_PARALLEL if min_parallel is None else min_parallel
    records = iter(records)
    head = list(islice(records, min_parallel))
    if workers == 1 or len(head) < min_parallel:
        for group in _chunks(head, records, _BATCH, _BATCH):
            for batch in group:
                prime(batch)  # the name tagger scores the batch's texts in one pass
                for texts in batch:
                    yield _one(texts, surrogates, write)
        return
    _warm()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    batch = max(1, min(_BATCH, len(head) // (2 * workers)))
    chunks = _chunks(head, records, batch, max(8, 2 * workers) * batch)
    with context.Pool(workers) as pool:
        # Two groups in flight: the workers detect the next one while the parent writes this one out.
        pending: list[tuple[list[list[list[str]]], Any]] = []
        for chunk in chunks:
            pending.append((chunk, pool.map_async(_batch, [(c, surrogates, write) for c in chunk])))
            if len(pending) > 1:
                yield from _collect(*pending.pop(0))
        for chunk, job in pending:
            yield from _collect(chunk, job)


def _collect(chunk: list[list[list[str]]], job: Any) -> Iterator[Result]:
    for records, results in zip(chunk, job.get(), strict=True):
        for texts, packed in zip(records, results, strict=True):
            yield _unpack(texts, packed)


def _chunks(
    head: list[list[str]], rest: Iterator[list[str]], batch: int, group: int
) -> Iterator[list[list[list[str]]]]:
    """Groups of `group` records in batches (one group is handed out at once), the records already read first."""
    pending = head
    while True:
        pending += list(islice(rest, max(0, group - len(pending))))
        if not pending:
            return
        take, pending = pending[:group], pending[group:]
        yield [take[i : i + batch] for i in range(0, len(take), batch)]
