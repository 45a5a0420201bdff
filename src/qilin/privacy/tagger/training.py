"""Train the name tagger on hand-labelled notes: logistic regression by Adagrad over the hashed features.

    rows = labelled_texts([Path("benchmarks/heldout/deid2/notes.jsonl")])
    tagger = train_tagger(rows)
    save_tagger(tagger, Path("name_tagger.npz"))

Our own loop rather than a library's: the model is one sparse weight vector, numpy trains it in seconds, and no
training dependency reaches users who only de-identify.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from qilin.durable import write_atomic
from qilin.privacy.evaluate import read_labelled
from qilin.privacy.spans import halfwidth
from qilin.privacy.tagger import DIMENSION, NameTagger, character_features

THRESHOLD, LOW = 0.7, 0.35  # a run starts above 0.7 and grows through neighbours above 0.35


def labelled_texts(paths: list[Path]) -> list[tuple[str, list[dict]]]:
    """(text, spans) of every text of the labelled files, in either labelled format (`read_labelled`)."""
    out = []
    for path in paths:
        for row in read_labelled(path):
            out += [(t, s) for t, s in zip(row["texts"], row["spans"], strict=True) if t]
    return out


def character_labels(text: str, spans: list[dict]) -> np.ndarray:
    """1.0 for each character inside a name span, else 0.0."""
    y = np.zeros(len(text), np.float32)
    for s in spans:
        if s["type"] == "name":
            y[s["start"] : s["end"]] = 1.0
    return y


def train_tagger(
    rows: list[tuple[str, list[dict]]],
    epochs: int = 6,
    rate: float = 0.2,
    l2: float = 1e-6,
    name_weight: float = 2.0,
    seed: int = 0,
    dimension: int = DIMENSION,
) -> NameTagger:
    """A tagger fitted to the characters of `rows`; name characters weigh `name_weight` (names are the rarer class
    and a missed name costs more than a masked word)."""
    x = np.concatenate([character_features(halfwidth(t), dimension) for t, _ in rows])
    y = np.concatenate([character_labels(t, s) for t, s in rows])
    rng = np.random.default_rng(seed)
    w = np.zeros(dimension, np.float32)
    squares = np.full(dimension, 1e-3, np.float32)
    bias, batch = 0.0, 256
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            rows_x, rows_y = x[order[start : start + batch]], y[order[start : start + batch]]
            p = 1.0 / (1.0 + np.exp(-(w[rows_x].sum(1) + bias)))
            g = (p - rows_y) * np.where(rows_y > 0, name_weight, 1.0)
            grad = np.zeros(dimension, np.float32)
            np.add.at(grad, rows_x.ravel(), np.repeat(g, rows_x.shape[1]).astype(np.float32))
            touched = np.unique(rows_x)
            step = grad[touched] + l2 * w[touched]
            squares[touched] += step * step
            w[touched] -= rate * step / np.sqrt(squares[touched])
            bias -= rate * 0.1 * float(g.mean())
    return NameTagger(w.astype(np.float16), bias, THRESHOLD, LOW)


def save_tagger(tagger: NameTagger, path: Path) -> None:
    """Write the tagger's weights (float16, compressed) and thresholds atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, weights=tagger.weights.astype(np.float16), bias=np.float32(tagger.bias),
                        threshold=np.float32(tagger.threshold), low=np.float32(tagger.low))  # fmt: skip
    write_atomic(path, buffer.getvalue())
