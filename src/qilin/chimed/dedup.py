"""Corpus hygiene: length and language filters, exact and near-duplicate removal, and the leakage check.

Near duplicates are found with MinHash LSH (datasketch) over character 5-gram shingles, which suits Chinese
text with no word boundaries; candidates are confirmed with the exact Jaccard similarity of their shingles.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from datasketch import MinHash, MinHashLSH

_NUM_PERM = 64
_SPACE_PUNCT = re.compile(r"[\s，。、；：？！,.;:?!“”\"'（）()\[\]【】《》<>—\-]+")


def normalize(text: str) -> str:
    """Text without whitespace and punctuation, for exact matching."""
    return _SPACE_PUNCT.sub("", text)


def shingles(text: str, n: int = 5) -> set[str]:
    """Character n-grams of the normalized text (the whole text if shorter)."""
    t = normalize(text)
    return {t[i : i + n] for i in range(max(1, len(t) - n + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a & b| / |a | b|."""
    return len(a & b) / len(a | b) if a or b else 1.0


def _minhash(sh: set[str]) -> MinHash:
    m = MinHash(num_perm=_NUM_PERM, seed=1)
    m.update_batch([s.encode() for s in sorted(sh)])
    return m


def _candidate_threshold(threshold: float) -> float:
    # LSH only proposes candidates and misses some pairs near its threshold; proposing from a lower one and
    # confirming with the exact Jaccard keeps recall at the threshold we promise.
    return max(0.3, threshold - 0.2)


def cjk_ratio(text: str) -> float:
    """Share of non-space characters that are CJK ideographs."""
    chars = [c for c in text if not c.isspace()]
    return sum("\u4e00" <= c <= "\u9fff" for c in chars) / len(chars) if chars else 0.0


@dataclass
class FilterReport:
    """What the filters kept and dropped, by reason."""

    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def drop(self, reason: str, text: str) -> None:
        """Count one dropped document and keep the first as an example."""
        self.dropped[reason] += 1
        self.examples.setdefault(reason, text[:80])

    def summary(self) -> str:
        """One line per reason."""
        lines = [f"kept {self.kept} documents, dropped {sum(self.dropped.values())}"]
        lines += [f"  {reason}: {n} (e.g. {self.examples[reason]!r})" for reason, n in sorted(self.dropped.items())]
        return "\n".join(lines)


def filter_documents(
    docs: Iterable[dict],
    min_chars: int = 8,
    max_chars: int = 20000,
    min_cjk: float = 0.3,
    near_duplicate: float = 0.85,
) -> tuple[list[dict], FilterReport]:
    """Drop too short, too long, non-Chinese, exact-duplicate and near-duplicate documents ({"text": ...})."""
    report = FilterReport()
    kept: list[dict] = []
    seen_exact: set[str] = set()
    lsh = MinHashLSH(threshold=_candidate_threshold(near_duplicate), num_perm=_NUM_PERM)
    kept_shingles: dict[str, set[str]] = {}
    for doc in docs:
        text = doc["text"]
        if len(text) < min_chars:
            report.drop("too_short", text)
            continue
        if len(text) > max_chars:
            report.drop("too_long", text)
            continue
        if cjk_ratio(text) < min_cjk:
            report.drop("not_chinese", text)
            continue
        key = normalize(text)
        if key in seen_exact:
            report.drop("exact_duplicate", text)
            continue
        sh = shingles(text)
        m = _minhash(sh)
        if any(jaccard(sh, kept_shingles[k]) >= near_duplicate for k in lsh.query(m)):
            report.drop("near_duplicate", text)
            continue
        seen_exact.add(key)
        name = str(len(kept))
        lsh.insert(name, m)
        kept_shingles[name] = sh
        kept.append(doc)
    report.kept = len(kept)
    return kept, report


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"[。！？\n]", text) if len(normalize(s)) >= 6]


def find_leaks(tests: list[str], training_texts: Iterable[str], threshold: float = 0.7) -> list[tuple[int, str, str]]:
    """Test items that appear in training text: (test index, 'exact' or 'near', the training text matched).

    Exact: the normalized test item is a substring of a normalized training document. Near: a training
    sentence whose shingle Jaccard similarity with the test item is at least `threshold`.
    """
    training = list(training_texts)
    normalized_docs = [normalize(t) for t in training]
    lsh = MinHashLSH(threshold=_candidate_threshold(threshold), num_perm=_NUM_PERM)
    sentence_shingles: dict[str, tuple[set[str], str]] = {}
    for i, text in enumerate(training):
        for j, sentence in enumerate(_sentences(text)):
            sh = shingles(sentence)
            key = f"{i}:{j}"
            lsh.insert(key, _minhash(sh))
            sentence_shingles[key] = (sh, sentence)
    leaks = []
    joined = "\u0000".join(normalized_docs)  # one search per test item instead of one per document
    for t, item in enumerate(tests):
        norm = normalize(item)
        pos = joined.find(norm) if norm else -1
        if pos >= 0:
            doc = joined.count("\u0000", 0, pos)
            leaks.append((t, "exact", training[doc][:120]))
            continue
        sh = shingles(item)
        for key in lsh.query(_minhash(sh)):
            other, sentence = sentence_shingles[key]
            if jaccard(sh, other) >= threshold:
                leaks.append((t, "near", sentence[:120]))
                break
    return leaks


def leaked_documents(tests: list[str], texts: list[str], threshold: float = 0.7) -> set[int]:
    """Indices of `texts` that contain a test item: its normalized text whole, or a sentence whose shingle
    Jaccard similarity with it is at least `threshold` (the two matches of `find_leaks`, seen from the text)."""
    if not tests or not texts:
        return set()
    normalized = [normalize(t) for t in tests]
    lsh = MinHashLSH(threshold=_candidate_threshold(threshold), num_perm=_NUM_PERM)
    test_shingles = {}
    for t, item in enumerate(tests):
        test_shingles[str(t)] = shingles(item)
        lsh.insert(str(t), _minhash(test_shingles[str(t)]))
    leaked = set()
    for i, text in enumerate(texts):
        norm = normalize(text)
        if any(n and n in norm for n in normalized):
            leaked.add(i)
            continue
        for sentence in _sentences(text):
            sh = shingles(sentence)
            if any(jaccard(sh, test_shingles[key]) >= threshold for key in lsh.query(_minhash(sh))):
                leaked.add(i)
                break
    return leaked
