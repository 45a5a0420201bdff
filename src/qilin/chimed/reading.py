"""Reading practice for retrieval-aware SFT: facts no training text holds, asked about with their passage in front.

A model answers the demo's SFT questions from what DCPT taught it, passages or not, so passages in front of them
teach it nothing about reading. Reading practice asks about facts the model cannot know: invented diseases and
guideline updates like those of the index-only slice (`qilin.chimed.index_only`), but drawn from other syllables,
so that no name is shared with the slice. Their documents go into the SFT training index only
(`stages.sft.rag.corpus`) and their questions into SFT with the passage holding the answer always in front
(`stages.sft.rag.reading`): the answer is in the passage or nowhere.

    reading.jsonl       {"text", "source": "reading"}: the facts, as knowledge sentences and encyclopedia entries
    reading_sft.jsonl   {"messages"}: a training-phrased question (never an exam stem) and the bare fact

The answers are bare facts ("风湿免疫科"), as the exam's options are and as DCPT's "问：...答案：..." documents answer.
"""

from __future__ import annotations

import random

from qilin.chimed.dedup import find_leaks, normalize
from qilin.chimed.index_only import index_only_documents, index_only_facts, index_only_names
from qilin.chimed.knowledge import Disease
from qilin.chimed.text import CPT_QUESTIONS

READING_DISEASES = 80
READING_UPDATES = 16
# Syllables of the invented names: none is a syllable of the index-only slice's names (a test checks it).
READING_HEADS = "枫桦楠槐檀椿柚枳棠芷茉莞蔺蘅瑜琳琪玥珂昙"
# Only the new drugs are asked: an answer no passage-free model can give, and no real term (a symptom, a
# department) is taught as a fact of an invented disease. Asking every relation (416 questions on 40 diseases, the
# answers real terms) cost the exam without passages 7 points after SFT on the demo.
RELATIONS = ("treatments",)
UPDATE_QUESTIONS = ("{d}的一线治疗最近新增了什么药？", "新版指南给{d}新增了哪种一线用药？")


def reading_conversations(invented: list[Disease], updates: list[tuple[str, str]], seed: int = 0) -> list[dict]:
    """One question per fact of each invented disease and per guideline update, answered with the bare fact."""
    rng = random.Random(seed + 37)
    rows = []
    for d in invented:
        for relation in RELATIONS:
            for value in d.facts(relation):
                question = rng.choice(CPT_QUESTIONS[relation]).format(d=d.name)
                rows.append(
                    {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": value}]}
                )
    for name, drug in updates:
        question = rng.choice(UPDATE_QUESTIONS).format(d=name)
        rows.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": drug}]})
    rng.shuffle(rows)
    return rows


def build_reading(
    diseases: list[Disease],
    training_texts: list[str],
    slice_names: list[str],
    slice_questions: list[str],
    seed: int = 0,
) -> tuple[list[dict], list[dict]]:
    """(index documents, SFT conversations) of reading practice; refuses a set that names an index-only fact
    (`slice_names`) or holds a question of the index-only exam (`slice_questions`)."""
    invented, updates = index_only_facts(
        diseases, training_texts, seed, heads=READING_HEADS, counts=(READING_DISEASES, READING_UPDATES), salt=35
    )
    docs = [{**doc, "source": "reading"} for doc in index_only_documents(invented, updates, seed + 10)]
    conversations = reading_conversations(invented, updates, seed)
    texts = [d["text"] for d in docs] + [m["content"] for c in conversations for m in c["messages"]]
    joined = "\u0000".join(normalize(t) for t in texts)
    shared = [n for n in slice_names if normalize(n) in joined]
    shared += [n for n in index_only_names(invented, updates) if any(normalize(n) in normalize(s) for s in slice_names)]
    leaks = find_leaks(slice_questions, texts)
    if shared or leaks:
        raise ValueError(
            f"reading practice shares names {shared[:3]} or questions {leaks[:1]} with the index-only slice"
        )
    return docs, conversations
