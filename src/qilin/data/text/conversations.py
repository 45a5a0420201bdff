"""SFT examples from conversations: token ids rendered with the chat template, labels on assistant turns only.

    ids, labels = tokenize_conversation(tokenizer, [{"role": "user", ...}, {"role": "assistant", ...}], 1024)
    pairs = tokenize_conversations(tokenizer, conversations, 1024)  # many at once: one render call, one encode call

An assistant turn's labels run from where the conversation rendered up to it with the generation prompt stops
matching the whole conversation's tokens to where the conversation rendered up to and with it does (as trl finds
them). `tokenize_conversation_by_prefixes` does exactly that, rendering and tokenizing every prefix: time quadratic
in the number of turns (73 s for 2,000 conversations of 8-48 turns with a 0.6B Llama's tokenizer).
`ConversationTokenizer` gives the same ids and labels from one render and one tokenization per conversation:
`chat_spans.TemplateSpans` finds where each prefix's render ends in the whole render, and a prefix's tokens are the
whole's up to the last added token (such as `<|im_end|>`) before its end, plus the few tokens of the text after that
token, which the tokenizers library splits off and encodes on its own. Where that does not hold (a template that
rewrites earlier turns, a slow tokenizer), it falls back to rendering each prefix, and says so once.
"""

from __future__ import annotations

import re
import weakref
from bisect import bisect_right
from collections import Counter
from typing import Any

from qilin.chat_templates import IGNORE_INDEX, chat_token_ids
from qilin.data.text.chat_spans import TemplateSpans
from qilin.log import get_logger

log = get_logger(__name__)

_WINDOW_MEMO_LIMIT = 4096  # encoded windows kept between calls: template text such as "<|im_end|>\n" repeats


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def tokenize_conversation_by_prefixes(
    tokenizer: Any, messages: list[dict[str, str]], max_length: int
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) by rendering each prefix: the reference, and the fallback for any template.

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


def _split_points(tokenizer: Any) -> dict[int, str]:
    """Added tokens the tokenizers library splits the text at, whatever surrounds them: id -> text."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if getattr(tokenizer, "split_special_tokens", False) or getattr(backend, "encode_special_tokens", False):
        return {}  # added tokens are encoded as plain text: no split points
    return {
        i: t.content
        for i, t in tokenizer.added_tokens_decoder.items()
        # stripping or word-boundary rules make a match depend on the text after it, which a prefix lacks
        if not (t.lstrip or t.rstrip or t.single_word or t.normalized)
    }


def _split_point_pattern(tokenizer: Any, split_points: dict[int, str]) -> re.Pattern | None:
    """The tokenizers library's first pass over raw text as a regex: the added tokens matched before normalizing,
    leftmost-longest; None where a match depends on more than its text (then the tokenizer's offsets are used)."""
    raw = [t for t in tokenizer.added_tokens_decoder.values() if not t.normalized]
    if not split_points or len(raw) != len(split_points):
        return None
    return re.compile("|".join(re.escape(t) for t in sorted(split_points.values(), key=len, reverse=True)))


class ConversationTokenizer:
    """(input_ids, labels) of conversations for one tokenizer, one render and one tokenization each."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.one_pass = bool(getattr(tokenizer, "is_fast", False))  # offsets need the tokenizers library
        self.spans = TemplateSpans(tokenizer)
        self.split_points = _split_points(tokenizer) if self.one_pass else {}
        self._pattern = _split_point_pattern(tokenizer, self.split_points) if self.one_pass else None
        self._ids = {text: i for i, text in self.split_points.items()}
        self.fallbacks: Counter[str] = Counter()  # conversations tokenized by prefixes, by reason
        self._windows: dict[str, list[int]] = {}

    def __call__(self, conversations: list[list[dict[str, str]]], max_length: int) -> list[tuple[list[int], list[int]]]:
        """(input_ids, labels) per conversation, equal to `tokenize_conversation_by_prefixes`'s."""
        if not conversations:
            return []
        if not self.one_pass:
            self.fallbacks["the tokenizer is not a fast (tokenizers library) one"] += len(conversations)
            return [tokenize_conversation_by_prefixes(self.tokenizer, m, max_length) for m in conversations]
        results: list[tuple[list[int], list[int]] | None] = [None] * len(conversations)
        rendered = self.tokenizer.apply_chat_template(conversations, tokenize=False)
        todo = []  # (index, render, [(generation prompt end, turn end)])
        for k, (messages, text) in enumerate(zip(conversations, rendered, strict=True)):
            found = self.spans.boundaries(messages, text)
            if isinstance(found, str):
                self.fallbacks[found] += 1
                results[k] = tokenize_conversation_by_prefixes(self.tokenizer, messages, max_length)
            else:
                todo.append((k, text, found))
        encoded = self._encode([text for _, text, _ in todo])
        prepared = [
            None if splits is None else self._cut_points(text, ids, splits, spans)
            for (_, text, spans), (ids, splits) in zip(todo, encoded, strict=True)
        ]
        self._encode_windows([w for cuts in prepared if cuts for _, _, w in cuts if w])
        for (k, _, _), (ids, _), cuts in zip(todo, encoded, prepared, strict=True):
            labels = None if cuts is None else self._labels(ids, cuts)
            if labels is None:  # the tokenizer did not split where expected: never seen, but stay exact
                self.fallbacks["the tokenizer splits at its added tokens otherwise than expected"] += 1
                results[k] = tokenize_conversation_by_prefixes(self.tokenizer, conversations[k], max_length)
            else:
                results[k] = (ids[:max_length], labels[:max_length])
        if len(self._windows) > _WINDOW_MEMO_LIMIT:
            self._windows = {w: ids for w, ids in self._windows.items() if len(w) <= 64}
        return results  # type: ignore[return-value]

    def _encode(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int, int]] | None]]:
        """Each text's ids (as `tokenizer(text, add_special_tokens=False)` gives them) and its split points:
        (token index, start, end) of each added token the tokenizer split the text at; None if they disagree."""
        if not texts:
            return []
        backend = self.tokenizer.backend_tokenizer
        # The transformers call adds nothing to the library's own but turning truncation, padding and special-token
        # splitting off; where they are off, the library's encode_batch_fast (no offsets) costs a third less.
        plain = backend.truncation is None and backend.padding is None and not backend.encode_special_tokens
        if self._pattern is not None and plain:
            ids = [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]  # each .ids copies
            return [(i, self._find_split_points(text, i)) for text, i in zip(texts, ids, strict=True)]
        encoded = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        return [
            (ids, [(t, *offsets[t]) for t, i in enumerate(ids) if self.split_points.get(i) == text[slice(*offsets[t])]])
            for text, ids, offsets in zip(texts, encoded["input_ids"], encoded["offset_mapping"], strict=True)
        ]

    def _find_split_points(self, text: str, ids: list[int]) -> list[tuple[int, int, int]] | None:
        """Split points found in the text as the library finds them, matched in order to the added tokens in `ids`."""
        matches = [(self._ids[m.group()], m.start(), m.end()) for m in self._pattern.finditer(text)]
        if sum(map(self.split_points.__contains__, ids)) != len(matches):
            return None
        found, t = [], -1
        for i, start, end in matches:  # as many as `ids` holds, found in order: the same sequence
            try:
                t = ids.index(i, t + 1)
            except ValueError:
                return None
            found.append((t, start, end))
        return found

    def _cut_points(
        self, text: str, ids: list[int], splits: list[tuple[int, int, int]], spans: list[tuple[int, int]]
    ) -> list[tuple[int, int, str]]:
        """Per boundary (in span order): (tokens certainly shared with the prefix, index of its anchor token or -1,
        the text from that anchor to the boundary, whose tokens decide the rest)."""
        ends = [end for _, _, end in splits]
        cuts = []
        for boundary in (b for span in spans for b in span):
            if boundary == len(text):  # the whole conversation: all of its tokens
                cuts.append((len(ids), -1, ""))
                continue
            k = bisect_right(ends, boundary) - 1
            if k < 0:  # no split point before it: the prefix is encoded whole
                cuts.append((0, -1, text[:boundary]))
            elif ends[k] == boundary:  # the prefix ends with the added token itself
                cuts.append((splits[k][0] + 1, -1, ""))
            else:  # the anchor is encoded with the window so the window is not a text's first piece
                cuts.append((splits[k][0], splits[k][0], text[splits[k][1] : boundary]))
        return cuts

    def _encode_windows(self, windows: list[str]) -> None:
        new = list(dict.fromkeys(w for w in windows if w not in self._windows))
        if new:
            encoded = self.tokenizer(new, add_special_tokens=False)["input_ids"]
            self._windows.update(zip(new, encoded, strict=True))

    def _labels(self, ids: list[int], cuts: list[tuple[int, int, str]]) -> list[int] | None:
        shared = []  # per boundary: how many leading tokens the prefix's encoding shares with `ids`
        for start, anchor, window in cuts:
            if not window:
                shared.append(start)
                continue
            tokens = self._windows[window]
            if anchor >= 0 and (not tokens or tokens[0] != ids[anchor]):
                return None
            shared.append(start + _common_prefix(tokens, ids[start : start + len(tokens)]))
        labels = [IGNORE_INDEX] * len(ids)
        for start, end in zip(shared[::2], shared[1::2], strict=True):
            labels[start:end] = ids[start:end]
        return labels


# One ConversationTokenizer per tokenizer and template, so its caches outlive a call.
_tokenizers: weakref.WeakKeyDictionary[Any, tuple[str, ConversationTokenizer]] = weakref.WeakKeyDictionary()


def conversation_tokenizer(tokenizer: Any) -> ConversationTokenizer:
    """The cached ConversationTokenizer of `tokenizer` (a new one when its template or added tokens changed)."""
    key = f"{tokenizer.chat_template}|{sorted(tokenizer.special_tokens_map.items())}|{tokenizer.added_tokens_decoder}"
    cached = _tokenizers.get(tokenizer)
    if cached is None or cached[0] != key:
        cached = (key, ConversationTokenizer(tokenizer))
        _tokenizers[tokenizer] = cached
    return cached[1]


def tokenize_conversations(
    tokenizer: Any, conversations: list[list[dict[str, str]]], max_length: int
) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per conversation: labels copy the assistant turns and are IGNORE_INDEX elsewhere."""
    tokenize = conversation_tokenizer(tokenizer)
    before = Counter(tokenize.fallbacks)
    results = tokenize(conversations, max_length)
    for reason in set(tokenize.fallbacks) - set(before):  # said once per tokenizer and reason
        log.info(f"tokenizing some conversations by rendering each prefix (slower, same labels): {reason}")
    return results


def tokenize_conversation(
    tokenizer: Any, messages: list[dict[str, str]], max_length: int
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for SFT: labels copy the assistant turns and are IGNORE_INDEX elsewhere."""
    return tokenize_conversations(tokenizer, [messages], max_length)[0]
