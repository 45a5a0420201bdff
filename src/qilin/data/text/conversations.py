"""SFT examples from conversations: token ids rendered with the chat template, labels on assistant turns only.

ids, labels = tokenize_conversation(tokenizer, [{"role": "user", ...}, {"role": "assistant", ...}], 1024)
"""

from __future__ import annotations

from typing import Any

from qilin.chat_templates import IGNORE_INDEX, chat_token_ids


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def tokenize_conversation(
    tokenizer: Any, messages: list[dict[str, str]], max_length: int
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for SFT: labels copy the assistant turns and are IGNORE_INDEX elsewhere.

    Each assistant span is found by rendering the conversation up to that turn, with and without the
    generation prompt, so it works for any template; where a template renders a prefix differently alone
    (some do), the span starts where the renders diverge, as trl does.
    """
    ids = chat_token_ids(tokenizer, messages)
    labels = [IGNORE_INDEX] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = _common_prefix(chat_token_ids(tokenizer, messages[:i], add_generation_prompt=True), ids)
        end = _common_prefix(chat_token_ids(tokenizer, messages[: i + 1]), ids)
        labels[start:end] = ids[start:end]
    return ids[:max_length], labels[:max_length]
