"""Medical texts -> short, unique passages for retrieval.

A corpus file is any CPT file (`.txt`, `.md`, `.jsonl`/`.json` with a `text` field), read by the same reader as
continued pre-training. Documents are cut at sentence ends and sentences packed greedily into passages.
"""

from __future__ import annotations

import re
from pathlib import Path

from qilin.data.records import DataError
from qilin.data.text.formats import iter_file

# A sentence ends after Chinese or ASCII 。！？； (with any closing quote or bracket) or at a line break. The ASCII
# period is left out: it is the decimal point in doses ("2.5 mg").
_SENTENCE = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+[”’」』）)\"']*|\n|$)")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` with their end punctuation, stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def split_passages(text: str, max_chars: int) -> list[str]:
    """Pack whole sentences into passages of at most `max_chars` characters.

    The limit is absolute: a single sentence longer than `max_chars` is cut every `max_chars` characters. Passages
    with no letter or digit (a stray "……。") are dropped, since nothing in them can be searched for.
    """
    if max_chars < 1:
        raise ValueError(f"passage_chars must be at least 1, got {max_chars}")
    pieces = [s[i : i + max_chars] for s in split_sentences(text) for i in range(0, len(s), max_chars)]
    passages: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > max_chars:
            passages.append(current)
            current = ""
        current += piece
    if current:
        passages.append(current)
    return [p for p in passages if any(c.isalnum() for c in p)]


def read_passages(corpus_paths: list[Path], max_chars: int) -> tuple[list[dict], dict[str, int], int]:
    """Unique passages of all files in reading order, documents per file, and how many passages were duplicates.

    A passage is {"text", "source" (the file), "doc" (the document's position in its file, from 1)}. Of identical
    passages the first one read is kept.
    """
    passages: list[dict] = []
    documents: dict[str, int] = {}
    seen: set[str] = set()
    duplicates = 0
    for path in corpus_paths:
        documents[str(path)] = 0
        for doc, text in enumerate(iter_file(path, "cpt"), 1):
            documents[str(path)] = doc
            for passage in split_passages(text, max_chars):
                if passage in seen:
                    duplicates += 1
                    continue
                seen.add(passage)
                passages.append({"text": passage, "source": str(path), "doc": doc})
    if not passages:
        raise DataError(", ".join(map(str, corpus_paths)), "", "the corpus holds no passage with any letter or digit")
    return passages, documents, duplicates
