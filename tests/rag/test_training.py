"""Retrieval-aware SFT: which prompts get passages, the gold passage present or absent as asked, answers unchanged,
no evaluation item ever retrieved, and the retrieval cached with the tokenized examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qilin.config import ModelSettings
from qilin.data.text import sft_examples
from qilin.models.loading import load_tokenizer
from qilin.rag.index import build_index, load_index
from qilin.rag.prompt import rag_prompt
from qilin.rag.training import DISTRACTOR_COVERAGE, GOLD_COVERAGE, PassagePrompts, answer_coverage, bigram_idf
from tests.conftest import DISEASES, write_jsonl

EXAM_ITEM = "某患者确诊为高血压，应首先前往哪个科室就诊？"


def _conversations() -> list[list[dict[str, str]]]:
    rows = []
    for d, dep, _, drug in DISEASES * 3:
        for question, answer in ((f"{d}挂什么科？", f"{d}应到{dep}就诊。"), (f"{d}用什么药？", f"{d}常用{drug}治疗。")):
            rows.append([{"role": "user", "content": question}, {"role": "assistant", "content": answer}])
    rows.append([{"role": "user", "content": "乏力是什么病？"}, {"role": "assistant", "content": "多见于贫血。"}])
    return rows


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """One fact per line: department, symptom and drug sentences of each disease, plus an evaluation item."""
    lines = [
        sentence
        for d, dep, s, drug in DISEASES
        for sentence in (f"{d}应到{dep}就诊。", f"{d}患者常见{s}。", f"{d}常用{drug}治疗。")
    ]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join([*lines, EXAM_ITEM]) + "\n", encoding="utf-8")
    return build_index([corpus], tmp_path / "index")


def _passages(prompt: str) -> list[str]:
    return re.findall(r"^\[\d+\] (.*)$", prompt.split("\n\n问题：")[0], flags=re.M)


def test_share_of_prompts_gold_passages_and_unchanged_answers(index: Path) -> None:
    conversations = _conversations()
    prompts = PassagePrompts(load_index(index), share=0.6, gold_share=0.5, top_k=3, evaluation_items=[EXAM_ITEM])
    out = prompts(conversations)
    idf = bigram_idf([p["text"] for p in prompts.retriever.passages])
    changed = [(c, o) for c, o in zip(conversations, out, strict=True) if c != o]
    assert len(changed) == prompts.stats["with_passages"] > 0
    assert abs(len(changed) / len(conversations) - 0.6) < 0.15
    gold = 0
    for before, after in changed:
        question, answer = before[0]["content"], before[1]["content"]
        assert after[1:] == before[1:]  # the answer target is never touched
        found = _passages(after[0]["content"])
        assert after[0]["content"] == rag_prompt(question, [type("P", (), {"text": t})() for t in found])
        coverage = [answer_coverage(t, question, answer, idf) for t in found]
        if max(coverage) >= GOLD_COVERAGE:
            gold += 1
            assert sorted(coverage)[-2] < DISTRACTOR_COVERAGE  # one gold passage, the others distractors
        else:
            assert max(coverage) < DISTRACTOR_COVERAGE  # distractors only: nothing there holds the answer
    assert gold == prompts.stats["gold"] > 0
    assert prompts.stats["distractors_only"] == len(changed) - gold > 0


@pytest.mark.parametrize("gold_share", [0.0, 1.0])
def test_gold_passage_present_or_absent_as_configured(index: Path, gold_share: float) -> None:
    conversations = _conversations()[:-1]  # the one question whose answer no passage holds
    prompts = PassagePrompts(load_index(index), share=1.0, gold_share=gold_share, top_k=2)
    out = prompts(conversations)
    idf = bigram_idf([p["text"] for p in prompts.retriever.passages])
    assert prompts.stats["with_passages"] == len(conversations)
    for before, after in zip(conversations, out, strict=True):
        question, answer = before[0]["content"], before[1]["content"]
        best = max(answer_coverage(t, question, answer, idf) for t in _passages(after[0]["content"]))
        assert (best >= GOLD_COVERAGE) if gold_share else (best < DISTRACTOR_COVERAGE)


def test_no_evaluation_item_is_ever_retrieved(index: Path) -> None:
    conversations = [
        [{"role": "user", "content": "高血压挂什么科？"}, {"role": "assistant", "content": "心内科。"}]
    ] * 5
    unguarded = PassagePrompts(load_index(index), share=1.0, gold_share=1.0, top_k=4)
    assert any(EXAM_ITEM in c[0]["content"] for c in unguarded(conversations))  # the index does hold it
    guarded = PassagePrompts(load_index(index), share=1.0, gold_share=1.0, top_k=4, evaluation_items=[EXAM_ITEM])
    assert not any(EXAM_ITEM in c[0]["content"] for c in guarded(conversations))
    assert guarded.stats["evaluation_passages_dropped"] == 1


def test_retrieval_is_cached_with_the_examples(index: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    tokenizer = load_tokenizer(tiny_model_dir, ModelSettings())
    data = write_jsonl(tmp_path / "sft.jsonl", [{"messages": c} for c in _conversations()])
    cache = tmp_path / "cache"
    first = PassagePrompts(load_index(index), share=0.5, gold_share=0.5, top_k=2)
    examples, _ = sft_examples.build_sft_examples([data], tokenizer, 128, cache=cache, transform=first)
    plain, _ = sft_examples.build_sft_examples([data], tokenizer, 128, cache=cache)
    assert sum(len(e["input_ids"]) for e in examples) > sum(len(e["input_ids"]) for e in plain)
    again = PassagePrompts(load_index(index), share=0.5, gold_share=0.5, top_k=2)
    monkeypatch.setattr(again.retriever, "search", lambda *a: pytest.fail("retrieved again on a cache hit"))
    cached, _ = sft_examples.build_sft_examples([data], tokenizer, 128, cache=cache, transform=again)
    assert cached == examples and again.stats == first.stats
    other = PassagePrompts(load_index(index), share=0.25, gold_share=0.5, top_k=2)  # other shares: another key
    sft_examples.build_sft_examples([data], tokenizer, 128, cache=cache, transform=other)
    assert len(list(cache.glob("examples-*.bin"))) == 3


def test_shares_out_of_range_are_refused(index: Path) -> None:
    with pytest.raises(ValueError, match=r"stages\.sft\.rag\.gold_share"):
        PassagePrompts(load_index(index), share=0.5, gold_share=1.5, top_k=3)


def test_reading_practice_always_gets_the_gold_passage_whatever_the_share(index: Path) -> None:
    conversations = _conversations()[:-1]
    reading = frozenset(c[0]["content"] for c in conversations[:6])
    prompts = PassagePrompts(load_index(index), share=0.0, gold_share=0.0, top_k=2, reading=reading)
    out = prompts(conversations)
    idf = bigram_idf([p["text"] for p in prompts.retriever.passages])
    for before, after in zip(conversations, out, strict=True):
        if before[0]["content"] not in reading:
            assert after == before  # share 0: no other prompt gets passages
            continue
        assert after[1:] == before[1:]
        question, answer = before[0]["content"], before[1]["content"]
        assert max(answer_coverage(t, question, answer, idf) for t in _passages(after[0]["content"])) >= GOLD_COVERAGE
    practice = sum(c[0]["content"] in reading for c in conversations)  # each question thrice in _conversations
    assert prompts.stats["reading"] == prompts.stats["gold"] == prompts.stats["with_passages"] == practice > 6
    plain = PassagePrompts(load_index(index), share=0.0, gold_share=0.0, top_k=2)
    assert plain.key != prompts.key  # the cache of tokenized examples tells them apart
