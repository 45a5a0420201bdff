"""Retrieval-aware SFT: retrieved passages in front of a share of the training prompts, in the serving format.

    prompts = PassagePrompts(retriever, share=0.5, gold_share=0.6, top_k=3, evaluation_items=stems, reading=questions)
    conversations = prompts(conversations)   # prompts.stats says what was done

A chosen share of conversations gets its first user turn replaced by `rag_prompt(question, passages)`, the one
format evaluation (`eval.rag`) and serving (`qilin serve --rag`) build. The passages are retrieved by the question
itself, from the same kind of index; of those conversations, `gold_share` get the passage that holds the answer
among distractors (at a random rank), the rest distractors only, so the model learns both to read a passage and to
answer from what it knows when the passages do not help. Reading practice (`reading`: questions about facts only
the training index holds, `qilin.chimed.reading`) always gets passages, with the one holding the answer. The
answers are never changed.

A passage "holds the answer" when it covers at least half of the answer's character bigrams that the question
does not already contain, weighted by how rare each is in the index; a distractor covers under a quarter of them
(a passage in between is neither, and unused). Passages are never used when they contain the training question
itself (its own QA text, flattened into a corpus) or an evaluation item (a question of the exam the model is
scored on): those are dropped and counted.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

from qilin.chimed.dedup import leaked_documents, normalize
from qilin.hashing import digest
from qilin.log import get_logger
from qilin.rag.index import Retriever
from qilin.rag.prompt import rag_prompt

log = get_logger(__name__)

GOLD_COVERAGE = 0.5  # a passage holding at least this share of the answer's own bigrams holds the answer
DISTRACTOR_COVERAGE = 0.25  # below this share it is a distractor
CANDIDATES_PER_PROMPT = 20  # passages retrieved per question to choose the gold one and the distractors from


def _bigrams(text: str) -> set[str]:
    t = normalize(text)
    return {t[i : i + 2] for i in range(len(t) - 1)}


def answer_coverage(passage: str, question: str, answer: str, idf: dict[str, float] | None = None) -> float:
    """Share of the answer's character bigrams (those not already in the question) that the passage contains,
    each weighted by its inverse document frequency in the index when `idf` is given (unknown bigrams: the
    highest weight), so template words every passage shares ("应到", "就诊") count for little."""
    own = _bigrams(answer) - _bigrams(question)
    if not own:
        return 0.0
    top = max(idf.values(), default=1.0) if idf else 1.0
    weight = {g: (idf.get(g, top) if idf else 1.0) for g in own}
    return sum(weight[g] for g in own & _bigrams(passage)) / sum(weight.values())


def bigram_idf(texts: list[str]) -> dict[str, float]:
    """log((N + 1) / (df + 1)) of every character bigram of `texts` (N texts, df: texts holding it)."""
    df: Counter[str] = Counter(g for t in texts for g in _bigrams(t))
    return {g: math.log((len(texts) + 1) / (n + 1)) for g, n in df.items()}


def holds_answer(passage: str, answers: list[str]) -> bool:
    """Whether a passage contains every answer text (punctuation and spaces ignored): recall@k's hit."""
    text = normalize(passage)
    return all(normalize(a) in text for a in answers)


class PassagePrompts:
    """Puts retrieved passages before the first user turn of a share of conversations (see the module doc)."""

    def __init__(
        self,
        retriever: Retriever,
        share: float,
        gold_share: float,
        top_k: int,
        evaluation_items: list[str] = (),
        seed: int = 0,
        reading: frozenset[str] = frozenset(),
    ):
        for name, value in (("share", share), ("gold_share", gold_share)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"stages.sft.rag.{name}: expected a share between 0 and 1, got {value}")
        if top_k < 1:
            raise ValueError(f"stages.sft.rag.top_k: must be at least 1, got {top_k}")
        self.retriever = retriever
        self.share, self.gold_share, self.top_k, self.seed = share, gold_share, top_k, seed
        self.evaluation_items = sorted({i for i in evaluation_items if normalize(i)})
        self.reading = frozenset(reading)  # first user turns that always get passages, the gold one among them
        self.stats: dict[str, Any] = {}

    @property
    def key(self) -> str:
        """What the augmented conversations depend on: the index's passages, the shares, k, the seed, the items."""
        texts = [p["text"] for p in self.retriever.passages]
        settings = [self.retriever.kind, self.share, self.gold_share, self.top_k, self.seed, CANDIDATES_PER_PROMPT]
        key = {"passages": digest(texts), "settings": settings, "items": digest(self.evaluation_items)}
        return digest(key | ({"reading": digest(sorted(self.reading))} if self.reading else {}))

    def __call__(self, conversations: list[list[dict[str, str]]]) -> list[list[dict[str, str]]]:
        """The conversations with passages in front of a share of first user turns; counts in `self.stats`."""
        rng = random.Random(self.seed)
        plans = []  # (conversation index, question, answer, wants gold) of the chosen conversations
        for i, messages in enumerate(conversations):
            user = next((k for k, m in enumerate(messages) if m["role"] == "user"), None)
            if user is None or user + 1 >= len(messages) or messages[user + 1]["role"] != "assistant":
                continue
            if messages[user]["content"] in self.reading:
                plans.append((i, user, True))
            elif rng.random() < self.share:
                plans.append((i, user, rng.random() < self.gold_share))
        found = {
            i: self.retriever.search(conversations[i][user]["content"], CANDIDATES_PER_PROMPT) for i, user, _ in plans
        }
        idf = bigram_idf([p["text"] for p in self.retriever.passages])
        unique = list(dict.fromkeys(p.text for hits in found.values() for p in hits))
        leaking = {unique[j] for j in leaked_documents(self.evaluation_items, unique)}
        counts = {"gold": 0, "distractors_only": 0, "gold_not_found": 0, "own_question": 0, "reading": 0}
        out = list(conversations)
        for i, user, wants_gold in plans:
            messages = conversations[i]
            question, answer = messages[user]["content"], messages[user + 1]["content"]
            own = normalize(question)
            usable = []
            for p in found[i]:
                if p.text in leaking:
                    continue
                if own and own in normalize(p.text):
                    counts["own_question"] += 1
                    continue
                usable.append((p, answer_coverage(p.text, question, answer, idf)))
            gold = max((pc for pc in usable if pc[1] >= GOLD_COVERAGE), key=lambda pc: pc[1], default=None)
            distractors = [p for p, c in usable if c < DISTRACTOR_COVERAGE]
            if wants_gold and gold is None:
                counts["gold_not_found"] += 1
            if wants_gold and gold is not None:
                passages = distractors[: self.top_k - 1]
                passages.insert(rng.randrange(len(passages) + 1), gold[0])
                counts["gold"] += 1
                counts["reading"] += question in self.reading
            else:
                passages = distractors[: self.top_k]
                counts["distractors_only"] += 1
            if not passages:
                continue
            turn = {**messages[user], "content": rag_prompt(question, passages)}
            out[i] = [*messages[:user], turn, *messages[user + 1 :]]
        with_passages = counts["gold"] + counts["distractors_only"]
        self.stats = {
            "conversations": len(conversations),
            "with_passages": with_passages,
            **counts,
            "evaluation_passages_dropped": len(leaking),
            "share_with_passages": round(with_passages / len(conversations), 4) if conversations else 0.0,
        }
        log.info(
            f"retrieval-aware SFT: passages before {with_passages} of {len(conversations)} prompts "
            f"({counts['gold']} with the passage holding the answer, {counts['reading']} of them reading practice, "
            f"{counts['distractors_only']} distractors only, "
            f"{counts['gold_not_found']} of those wanting it found none); {len(leaking)} retrieved passages hold an "
            f"evaluation item and were never used; {counts['own_question']} hits were the question's own text"
        )
        return out
