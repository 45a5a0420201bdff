"""Does a small trained name scorer, added to the rules, find more names than the rules alone? Leave one set out.

PYTHONPATH=src python benchmarks/deid_name_model.py            # the three folds, rules alone vs rules + model

Candidates are spans a name could be: a surname (common, rare or compound) and one or two characters after it, a run
of two to four ideographs standing between separators (a cell, a speaker tag), 小/阿 and a character, a doubled
character, and runs of capitalised English words. Each gets hashed features: its characters, its surname class,
jieba's dictionary tag and frequency, a medical word at it, the characters and the role word to its left, the
characters, a title or sex and age to its right, the separators around it and the shape of its line. A logistic
regression (numpy, L2, a few epochs of SGD) scores them; a candidate the rules did not find, overlapping no span of
theirs, scoring above the threshold is masked as a name. Each fold trains on two of the hand-written sets and the
bundled development notes and is scored on the third with the same scorer as `deid_eval.py`.
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from pathlib import Path

import numpy as np

from qilin.privacy import record
from qilin.privacy.evaluate import EVAL_DIR, _normalise, evaluate_file, read_medical_strings
from qilin.privacy.names import _HINT, _TITLE_AT
from qilin.privacy.roles import (
    NOT_IN_GIVEN_NAMES,
    THING_LABEL,
    is_common_word,
    medical_words,
    opens_medical_word,
    segmenter,
    surname_length,
)
from qilin.privacy.spans import Span, halfwidth

HELDOUT = Path(__file__).resolve().parent / "heldout"
SETS = {"notes": HELDOUT / "deid", "notes2": HELDOUT / "deid2", "notes3": HELDOUT / "deid3"}
DIM = 1 << 18
_CJK = re.compile(r"[\u4e00-\u9fff]")
_RUN = re.compile(r"(?<![\u4e00-\u9fff])[\u4e00-\u9fff]{2,4}(?![\u4e00-\u9fff])")
_NICK = re.compile(r"[小阿][\u4e00-\u9fff]|([\u4e00-\u9fff])\1")
_EN_RUN = re.compile(r"\b[A-Z][a-z'’\-]+(?:[ \t]+[A-Z][a-z'’\-]+){0,2}\b")
_SEX = re.compile(r"[ \t，,（(]*(?:[男女]|\d{1,3}岁)")
_HINTS = {w: h for w, h in _HINT.items()}


def candidates(text: str) -> set[tuple[int, int]]:
    """(start, end) of every span of `text` that could be a name."""
    found: set[tuple[int, int]] = set()
    for i, ch in enumerate(text):
        if not "\u4e00" <= ch <= "\u9fff":
            continue
        s = surname_length(text, i, rare=True)
        for g in (1, 2) if s else ():
            end = i + s + g
            if end <= len(text) and all("\u4e00" <= c <= "\u9fff" for c in text[i + s : end]):
                found.add((i, end))
    found.update(m.span() for m in _RUN.finditer(text))
    found.update(m.span() for m in _NICK.finditer(text))
    found.update(m.span() for m in _EN_RUN.finditer(text))
    return found


def _kind(ch: str) -> str:
    if not ch:
        return "end"
    if "\u4e00" <= ch <= "\u9fff":
        return "cjk"
    if ch.isdigit():
        return "digit"
    if ch.isalpha():
        return "latin"
    return "p" + ch if ch in ":：，,。；;、 \t\n()（）|" else "other"


def features(text: str, start: int, end: int) -> list[str]:
    """The hashed-feature strings of the candidate text[start:end]."""
    cand = text[start:end]
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    left, right = text[max(0, start - 3) : start], text[end : end + 2]
    f = [f"len={len(cand)}", f"l1={left[-1:]}", f"l2={left[-2:]}", f"r1={right[:1]}", f"r2={right}"]
    f += [f"lk={_kind(left[-1:])}", f"rk={_kind(right[:1])}", f"lk_rk={_kind(left[-1:])}_{_kind(right[:1])}"]
    if cand.isascii():
        words = cand.split()
        prev = text[max(0, start - 12) : start].split()
        f += ["en", f"en_n={len(words)}", f"en_prev={prev[-1].lower() if prev else '^'}"]
        f += [f"en_next={text[end : end + 10].split()[0].lower() if text[end : end + 10].split() else '$'}"]
        f += [f"en_first={words[0]}" for _ in (0,) if len(words) == 1]
        return f
    s = surname_length(cand, 0, rare=True)
    kind = "none" if not s else "compound" if s == 2 else "common" if surname_length(cand, 0) else "rare"
    f += [f"sur={kind}", f"c0={cand[0]}", f"cL={cand[-1]}"] + [f"g={c}" for c in cand[s:]]
    f += [f"sur_len={kind}_{len(cand)}", f"first2={cand[:2]}"]
    freq = segmenter().FREQ.get(cand, 0)
    import jieba.posseg

    tag = jieba.posseg.dt.word_tag_tab.get(cand, "")
    f += [f"tag={tag}", f"freq={min(int(np.log10(freq + 1)), 5)}", f"common={is_common_word(cand)}"]
    if opens_medical_word(text, start):
        f.append("medical")
    for k in range(1, 6):
        hint = _HINTS.get(text[max(0, start - k) : start])
        if hint and start - k >= 0:
            f += [f"lrole={hint}", f"lrole_k={k}"]
            break
    if _TITLE_AT.match(text, end):
        f.append("rtitle")
    if _SEX.match(text, end):
        f.append("rsex")
    stripped = text[line_start:start].strip()
    f += [f"line_start={not stripped}", f"lcolon={stripped.endswith((':', '：'))}"]
    f += [f"line_colon={':' in line or '：' in line}", f"line_pipe={'|' in line}", f"line_tab={chr(9) in line}"]
    f += [f"line_len={min(len(line) // 20, 5)}"]
    return f


def _hash(feats: list[str]) -> np.ndarray:
    return np.array([zlib.crc32(x.encode()) % DIM for x in feats] + [0], dtype=np.int64)  # 0: the bias


def records(split: str) -> list[dict]:
    """The labelled records of a set, in the multi-field form."""
    path = SETS[split] / "notes.jsonl" if split in SETS else EVAL_DIR / f"{split}.jsonl"
    return [_normalise(json.loads(line), need_person=False) for line in path.open(encoding="utf-8") if line.strip()]


def examples(recs: list[dict]) -> tuple[list[np.ndarray], np.ndarray]:
    """Hashed features and labels (1: exactly a labelled name; 0: overlapping no labelled PHI)."""
    xs, ys = [], []
    for rec in recs:
        for text, spans in zip(rec["texts"], rec["spans"], strict=True):
            half = halfwidth(text)
            names = {(s["start"], s["end"]) for s in spans if s["type"] == "name"}
            for start, end in candidates(half):
                positive = (start, end) in names
                if not positive and any(s["start"] < end and start < s["end"] for s in spans if s["type"] == "name"):
                    continue  # part of a name: neither a name nor a non-name
                xs.append(_hash(features(half, start, end)))
                ys.append(1.0 if positive else 0.0)
    return xs, np.array(ys)


def train(xs: list[np.ndarray], ys: np.ndarray, epochs: int = 6, rate: float = 0.2, l2: float = 1e-6) -> np.ndarray:
    """Logistic regression weights by SGD over the hashed features (positives weighted up to half the loss)."""
    w = np.zeros(DIM)
    rng = np.random.default_rng(0)
    pos_weight = max(1.0, (len(ys) - ys.sum()) / max(ys.sum(), 1) / 4)
    for epoch in range(epochs):
        step = rate / (1 + epoch)
        for i in rng.permutation(len(xs)):
            idx = xs[i]
            p = 1 / (1 + np.exp(-w[idx].sum()))
            g = (p - ys[i]) * (pos_weight if ys[i] else 1.0)
            w[idx] -= step * (g + l2 * w[idx])
    return w


def medical_overlap(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is what the rules never take for a name: a dictionary word, a character no given
    name uses, the value of a diagnosis label, or a span overlapping a medical word (not_names.txt, the knowledge
    base's terms)."""
    if set(text[start:end]) & NOT_IN_GIVEN_NAMES or is_common_word(text[start:end]):
        return True  # the rules' guards: a character no given name uses, a dictionary word
    if THING_LABEL.search(text[max(0, text.rfind("\n", 0, start) + 1, start - 10) : start]):
        return True  # 中医诊断：石淋: the value of a diagnosis, procedure or drug label
    words = medical_words()
    return any(
        text[k : k + n] in words for k in range(max(0, start - 9), end) for n in range(max(2, start - k + 1), 11)
    )


def model_spans(w: np.ndarray, threshold: float):
    """A detect_phi that adds the model's names to the rules' spans."""
    rules = record.detect_phi

    def detect(text: str, known_names: tuple[str, ...] = ()) -> list[Span]:
        spans = rules(text, known_names)
        half = halfwidth(text)
        added: list[Span] = []
        for start, end in sorted(candidates(half), key=lambda c: c[0] - c[1]):
            if any(s.start < end and start < s.end for s in spans + added) or medical_overlap(half, start, end):
                continue
            if 1 / (1 + np.exp(-w[_hash(features(half, start, end))].sum())) > threshold:
                added.append(Span("name", start, end, text[start:end]))
        return sorted(spans + added, key=lambda s: s.start)

    return detect


def score(split: str, detect=None) -> dict:
    """The deid_eval scores of a set, with `detect` in place of the rules when given."""
    original = record.detect_phi
    try:
        if detect:
            record.detect_phi = detect
        path = SETS[split]
        return evaluate_file(path / "notes.jsonl", read_medical_strings(path / "medical_strings.txt"))
    finally:
        record.detect_phi = original


def main() -> None:
    """Each fold: train on two sets and the development notes, score rules and rules + model on the third."""
    thresholds = [float(t) for t in sys.argv[1:]] or [0.5, 0.7, 0.9]
    cache = {split: examples(records(split)) for split in [*SETS, "dev_notes", "dev_notes2"]}
    for held in SETS:
        train_sets = [s for s in cache if s != held]
        xs = [x for s in train_sets for x in cache[s][0]]
        ys = np.concatenate([cache[s][1] for s in train_sets])
        w = train(xs, ys)
        base = score(held)
        row = [f"{held}: rules names {base['names_recall']:.3f} prec {base['types']['name']['precision']:.3f}"]
        for t in thresholds:
            sc = score(held, model_spans(w, t))
            row.append(
                f"t={t}: names {sc['names_recall']:.3f} prec {sc['types']['name']['precision']:.3f} "
                f"overall prec {sc['precision']:.3f} medical {sc['medical_altered']} "
                f"{sorted({a['string'] for a in sc['alterations']} - {a['string'] for a in base['alterations']})}"
            )
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
