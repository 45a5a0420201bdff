"""Recipe keys of retrieval-aware SFT (`stages.sft.rag`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _help(text: str, default: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass
class RagTrainingSettings:
    """Retrieved passages in front of a share of SFT prompts, in the format eval.rag and `serve --rag` use."""

    share: float = _help(
        "Share of SFT conversations whose first question gets retrieved passages in front (rag_prompt's format); "
        "0 turns retrieval-aware SFT off.",
        0.0,
    )
    gold_share: float = _help(
        "Of those, the share given the passage that holds the answer among distractors (at a random rank); the "
        "rest get distractors only, so the model also learns to answer from what it knows.",
        0.5,
    )
    top_k: int = _help("Passages per prompt; set it to eval.rag_top_k so training and use see as many.", 3)
    corpus: list[str] = _help(
        "Files the training index is built over (BM25, as eval.rag's); empty: eval.rag's corpus. Keep knowledge "
        "meant to be known from the index only (embedded:index-only) out of it.",
        [],
    )
    seed: int = _help("Seed of which conversations get passages, which get the gold one, and its rank.", 0)
    reading: list[str] = _help(
        "Reading practice: SFT conversations (files, or 'embedded:reading-sft') about facts only the training index "
        "holds (their documents, 'embedded:reading', belong in corpus); each always gets passages with the one "
        "holding the answer, so the model learns to answer from a passage what it cannot know. Trained after the "
        "stage's data, with passages whatever share says.",
        [],
    )
