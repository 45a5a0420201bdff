"""Tokenized SFT examples: the same for any number of worker processes, cached, checked and rebuilt when damaged."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qilin.chat_templates import IGNORE_INDEX
from qilin.config import ModelSettings
from qilin.data.text import sft_examples
from qilin.data.text.conversations import tokenize_conversation_by_prefixes
from qilin.models.loading import load_tokenizer
from tests.conftest import DISEASES, write_jsonl


@pytest.fixture
def tokenizer(tiny_model_dir: Path):
    return load_tokenizer(tiny_model_dir, ModelSettings())


def _conversations(n: int, seed: int = 0) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    conversations = []
    for _ in range(n):
        messages = [{"role": "system", "content": "你是医生。"}] if rng.random() < 0.3 else []
        for _ in range(rng.randint(1, 6)):
            d, dep, s, drug = rng.choice(DISEASES)
            messages += [  # now and then a question so long that no answer is left within max_length
                {"role": "user", "content": rng.choice([f"{d}挂什么科？", f"{s}是什么病？"]) * rng.choice([1, 2, 40])},
                {"role": "assistant", "content": rng.choice([f"{d}应到{dep}就诊。", f"常用{drug}治疗。"])},
            ]
        conversations.append(messages)
    return conversations


def test_examples_are_the_same_for_any_number_of_processes(tokenizer) -> None:
    conversations = _conversations(3 * sft_examples.CONVERSATIONS_PER_BATCH + 7)
    one = sft_examples.tokenize_sft_conversations(conversations, tokenizer, 96, processes=1)
    two = sft_examples.tokenize_sft_conversations(conversations, tokenizer, 96, processes=2)
    assert one == two
    kept = [tokenize_conversation_by_prefixes(tokenizer, m, 96) for m in conversations]
    kept = [(ids, labels) for ids, labels in kept if any(label != IGNORE_INDEX for label in labels)]
    assert [(e["input_ids"], e["labels"]) for e in one[0]] == kept
    assert one[1] == len(conversations) - len(kept) > 0  # long questions leave no answer within 96 tokens


def _build(paths: list[Path], tokenizer, cache: Path) -> tuple[list[dict], int]:
    return sft_examples.build_sft_examples(paths, tokenizer, 96, cache=cache)


def test_cache_is_read_back_instead_of_tokenizing(tokenizer, tmp_path: Path, monkeypatch) -> None:
    data = write_jsonl(tmp_path / "sft.jsonl", [{"messages": m} for m in _conversations(200)])
    examples, dropped = _build([data], tokenizer, tmp_path / "cache")

    def no_tokenizing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the conversations were tokenized again")

    monkeypatch.setattr(sft_examples, "tokenize_sft_conversations", no_tokenizing)
    assert _build([data], tokenizer, tmp_path / "cache") == (examples, dropped)
    assert dropped > 0 and len(examples) > 100
    with pytest.raises(AssertionError, match="tokenized again"):  # another max_length: another key
        sft_examples.build_sft_examples([data], tokenizer, 97, cache=tmp_path / "cache")


@pytest.mark.parametrize("damage", ["truncate", "flip", "metadata"])
def test_a_damaged_cache_is_rebuilt_and_said(tokenizer, tmp_path: Path, capsys, damage: str) -> None:
    data = write_jsonl(tmp_path / "sft.jsonl", [{"messages": m} for m in _conversations(200)])
    built = _build([data], tokenizer, tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("examples-*.bin")
    whole = cached.read_bytes()
    if damage == "truncate":
        cached.write_bytes(whole[: len(whole) // 2])
        expected = f"{len(whole) // 2} bytes"
    elif damage == "flip":  # a label changed, same size
        cached.write_bytes(whole[:-5] + bytes([whole[-5] ^ 1]) + whole[-4:])
        expected = "checksum"
    else:
        cached.with_suffix(".json").unlink()
        expected = "metadata"
    assert expected in sft_examples.check_examples(cached)
    capsys.readouterr()
    assert _build([data], tokenizer, tmp_path / "cache") == built
    assert cached.read_bytes() == whole
    assert f"cache file {cached} is damaged" in capsys.readouterr().err


def test_a_worker_reimporting_a_script_refuses_to_wait_for_the_lock(tokenizer, tmp_path: Path, monkeypatch) -> None:
    """What a spawned worker runs when a script has no main guard: it must fail, not wait for its parent's lock."""
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(RuntimeError, match="main guard"):
        _build([write_jsonl(tmp_path / "sft.jsonl", [])], tokenizer, tmp_path / "cache")
