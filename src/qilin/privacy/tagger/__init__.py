"""Chinese names that no rule announces, found by a small trained model.

The rules find a name where a label, a title, a role or a layout announces it. Text written apart from them keeps
names in places no rule names (a list after "3名：", a roster cell, a speaker's aside), and each round of rules fits
the text it was written against. This model reads every character: a logistic classifier over hashed character
n-grams and character classes around it (no word segmentation, numpy only, weights in
`resources/deid/name_tagger.npz`), trained on the hand-labelled development notes by `qilin.privacy.tagger.training`.
A run of characters it scores as a name becomes a name span when no rule span covers it and it is plain Han text
that is no medical or common word. Measured by leaving one hand-written set out of training: docs/safety-and-privacy.md.

    spans = with_tagged_names(half, text, spans)   # the rules' spans and the names the tagger adds where none lies
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

import numpy as np

from qilin.privacy.roles import (
    NOT_IN_GIVEN_NAMES,
    is_common_word,
    medical_word_across,
    medical_word_ending,
    opens_medical_word,
)
from qilin.privacy.spans import Span, halfwidth

WEIGHTS = Path(__file__).resolve().parents[2] / "resources" / "deid" / "name_tagger.npz"
DIMENSION = 1 << 18  # hashed feature space: 2^18 float16 weights, 512 KB before compression
# The features of a character: n-grams of the characters around it (offsets relative to it), n-grams of their
# classes (Han, Latin upper, lower, digit, newline, space, colon, other), and its own class beside a neighbour.
CHARACTER_TEMPLATES = (
    (0,), (-1,), (1,), (-2,), (2,), (-3,), (3,),
    (-1, 0), (0, 1), (-2, -1), (1, 2), (-1, 1),
    (-3, -2, -1), (1, 2, 3), (-2, -1, 0), (0, 1, 2),
)  # fmt: skip
CLASS_TEMPLATES = ((-2, -1, 0, 1, 2), (-1, 0, 1))
NEIGHBOURS = (-1, 1, -2, 2)
_PAD = 3
_WIDTH = 2 * _PAD + 1
_BEFORE, _AFTER = "\x01" * _PAD, "\x02" * _PAD  # the codes a text is padded with at its start and end
_HAN_RUN = re.compile(r"[\u4e00-\u9fff·]{2,6}")


def _template_reads() -> tuple[list[list[tuple[int, int, np.uint64]]], np.ndarray]:
    """For each template, what it reads: (0 characters or 1 classes, start of the slice, a random odd 64-bit
    multiplier); and a seed per template. A template's hash is the sum of the values it reads times their
    multipliers, plus its seed, whose top bits index the weights: a multiply-add per value read, on whole slices
    of the text at once."""
    reads = [[(0, o + _PAD) for o in t] for t in CHARACTER_TEMPLATES]
    reads += [[(1, o + _PAD) for o in t] for t in CLASS_TEMPLATES]
    reads += [[(0, o + _PAD), (1, _PAD)] for o in NEIGHBOURS]
    rng = np.random.default_rng(20261206)
    odd = [[(s, k, np.uint64(rng.integers(0, 2**62)) * np.uint64(2) + np.uint64(1)) for s, k in r] for r in reads]
    return odd, rng.integers(0, 2**62, size=len(reads), dtype=np.uint64)[:, None]


_READS, _SEEDS = _template_reads()


def _class_table() -> np.ndarray:
    """Class of every code point of the Basic Multilingual Plane (and of the two padding codes 1 and 2)."""
    table = np.full(0x10000, 5, np.uint64)  # other
    table[0x4E00:0xA000] = 1  # Han
    table[ord("A") : ord("Z") + 1], table[ord("a") : ord("z") + 1], table[ord("0") : ord("9") + 1] = 2, 3, 4
    table[10], table[[9, 32, 0x3000]], table[[58, 0xFF1A]] = 6, 7, 8  # newline, space, colon
    table[1], table[2] = 9, 10  # before the text, after it
    return table


_CLASSES = _class_table()


def character_features(text: str, dimension: int = DIMENSION) -> np.ndarray:
    """Hashed feature indices of every character of `text`: an integer array (len(text), number of templates);
    `dimension` is a power of two."""
    n = len(text)
    codes = np.empty(n + 2 * _PAD, np.uint64)
    codes[:_PAD], codes[n + _PAD :] = 1, 2
    codes[_PAD : n + _PAD] = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    sources = (codes, _CLASSES[np.minimum(codes, 0xFFFF)])  # a code point above the plane is "other"
    x, product = np.empty((len(_READS), n), np.uint64), np.empty(n, np.uint64)
    for row, reads in zip(x, _READS, strict=True):  # in place: no new array per read (a batch's are megabytes)
        (source, start, multiplier), *rest = reads
        np.multiply(sources[source][start : start + n], multiplier, out=row)
        for source, start, multiplier in rest:
            row += np.multiply(sources[source][start : start + n], multiplier, out=product)
    x += _SEEDS
    x >>= np.uint64(65 - dimension.bit_length())
    return x.view(np.intp).T  # below 2**63 after the shift: the same integers, not copied


class NameTagger:
    """The trained weights and the two thresholds: a run starts above `threshold` and grows through `low`."""

    def __init__(self, weights: np.ndarray, bias: float, threshold: float, low: float) -> None:
        self.weights, self.bias, self.threshold, self.low = weights.astype(np.float32), bias, threshold, low
        self._primed: dict[str, np.ndarray] = {}
        self._runs: dict[str, list[tuple[int, int]]] = {}  # the primed texts' runs
        self._start, self._grow = (np.float32(np.log(p / (1 - p))) for p in (threshold, low))  # as log-odds

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> NameTagger:
        with np.load(path) as f:
            return cls(f["weights"], float(f["bias"]), float(f["threshold"]), float(f["low"]))

    def scores(self, text: str) -> np.ndarray:
        """Per character, the log-odds that it belongs to a name."""
        primed = self._primed.get(text)
        if primed is not None:
            return primed
        return self.weights[character_features(text, len(self.weights))].sum(1) + np.float32(self.bias)

    def prime(self, texts: list[str]) -> None:
        """Score `texts` in one pass and keep their scores (until the next call) for `scores` to return.

        A corpus holds many short texts, and numpy's cost per call outweighs its cost per character on them: the
        texts are joined, each between the padding codes it would have alone, so every character sees what it
        would see alone, and are scored as one.
        """
        self._primed, self._runs = {}, {}
        if not texts:
            return
        z = self.scores("".join(f"{_BEFORE}{t}{_AFTER}" for t in texts))
        lengths = np.array([len(t) for t in texts], np.intp)
        starts = np.cumsum(lengths + 2 * _PAD) - lengths - _PAD
        # the runs of every text at once: its padding is never part of a run, so none crosses from one to the next
        inside = np.repeat(
            np.tile([False, True, False], len(texts)),
            np.stack([np.full_like(lengths, _PAD), lengths, np.full_like(lengths, _PAD)], 1).ravel(),
        )
        found: dict[int, list[tuple[int, int]]] = {}
        run_starts, run_ends = _hysteresis(z, self._start, self._grow, inside)
        owner = np.searchsorted(starts, run_starts, side="right") - 1
        for i, a, b in zip(
            owner.tolist(), (run_starts - starts[owner]).tolist(), (run_ends - starts[owner]).tolist(), strict=True
        ):
            found.setdefault(i, []).append((a, b))
        for i, (text, start) in enumerate(zip(texts, starts.tolist(), strict=True)):
            self._primed[text], self._runs[text] = z[start : start + len(text)], found.get(i, [])

    def runs(self, text: str) -> list[tuple[int, int]]:
        """Runs of characters above `threshold`, grown through neighbours above `low` (hysteresis)."""
        primed = self._runs.get(text)
        if primed is not None:  # found with its batch
            return list(primed)
        if not text:
            return []
        starts, ends = _hysteresis(self.scores(text), self._start, self._grow)  # compare log-odds: no exp
        return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _hysteresis(z: np.ndarray, start: float, grow: float, inside: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Starts and ends of the runs above `start` grown through neighbours above `grow` (only `inside` ones): each
    stretch of characters above either that holds one above `start`."""
    on = z > start
    low = on | (z > grow)
    if inside is not None:
        on &= inside
        low &= inside
    edges = np.flatnonzero(np.diff(np.concatenate([[0], low.astype(np.int8), [0]])))
    run_starts, run_ends = edges[::2], edges[1::2]
    above = np.concatenate([[0], np.cumsum(on)])
    hot = above[run_ends] > above[run_starts]
    return run_starts[hot], run_ends[hot]


@lru_cache(maxsize=1)
def shipped_tagger() -> NameTagger:
    """The tagger trained on the development notes, shipped with Qilin."""
    return NameTagger.load()


_ACTIVE: ContextVar[NameTagger | bool | None] = ContextVar("name_tagger", default=True)


def active_tagger() -> NameTagger | None:
    """The tagger detection uses now: the shipped one unless `using_tagger` chose another or none."""
    chosen = _ACTIVE.get()
    return shipped_tagger() if chosen is True else chosen or None


@contextmanager
def using_tagger(tagger: NameTagger | None) -> Iterator[None]:
    """Detect with `tagger` (None: the rules alone) inside the block, in this thread or task."""
    token = _ACTIVE.set(tagger)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def prime(records: list[list[str]]) -> None:
    """Score every text of `records` in one pass before they are de-identified one by one (`NameTagger.prime`)."""
    tagger = active_tagger()
    if tagger is not None:
        tagger.prime([halfwidth(t) for texts in records for t in texts])


def plausible_name(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] can be a Chinese name: 2-6 Han characters (a middle dot allowed), none of anatomy,
    disease or drug, not inside or across a medical word, not a common dictionary word."""
    value = text[start:end]
    if not _HAN_RUN.fullmatch(value) or any(ch in NOT_IN_GIVEN_NAMES for ch in value):
        return False
    if any(opens_medical_word(text, k) for k in range(start, end)):
        return False
    return not (medical_word_ending(text, end) or medical_word_across(text, start, end) or is_common_word(value))


def with_tagged_names(text: str, original: str, spans: list[Span]) -> list[Span]:
    """`spans` (non-overlapping) and, where none of them lies, the plausible names the active tagger finds in `text`
    (the half-width reading of `original`, whose characters the new spans' values are), in text order."""
    tagger = active_tagger()
    runs = tagger.runs(text) if tagger is not None else []
    if not runs:  # most texts of a corpus
        return spans
    covered = np.zeros(len(text) + 1, bool)
    for s in spans:
        covered[s.start : s.end] = True
    found = [
        Span("name", start, end, original[start:end])
        for start, end in runs
        if not covered[start:end].any() and plausible_name(text, start, end)
    ]
    return sorted(spans + found, key=lambda s: s.start) if found else spans
