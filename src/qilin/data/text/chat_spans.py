"""Where each assistant turn begins and ends in a conversation rendered once, for prefix-stable chat templates.

    spans = TemplateSpans(tokenizer)
    spans.boundaries(messages, rendered)  # [(end of the generation prompt, end of the turn)] per assistant turn

SFT labels need, for each assistant turn, where the conversation rendered up to that turn ends, with the
generation prompt and with the turn itself. Rendering every prefix costs time quadratic in the number of turns.
Most templates (chatml, llama2, vicuna and Qwen2.5's, tested) render a conversation's beginning as a prefix of
the whole and insert each message's content verbatim; the text around the contents then depends only on the
roles. So the prefixes are rendered once per sequence of roles, with each content replaced by a marker (a
"skeleton"), and each real conversation maps those boundaries onto its own render. Both assumptions are checked,
not trusted: each skeleton prefix must be a prefix of the whole skeleton (templates that drop earlier `<think>`
blocks or mark the last turn fail here), and each conversation's render must equal its skeleton with the markers
replaced by its contents (templates that trim or rewrite contents, as Llama 3's trims, fail here where they
change a content). A failed check returns the reason, and the caller renders every prefix as before. What is not
checked: a template whose prefixes depend on contents in a way the whole conversation's render does not show.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import Any

# Markers stand in for message contents: private-use characters that no template writes and that no
# content-dependent branch (strip, split on '</think>', ...) treats specially.
_MARKER = re.compile("\ue000(\\d+)\ue001")
NOT_PREFIX_STABLE = (
    "the chat template renders the start of a conversation differently from the whole conversation "
    "(it changes earlier turns, e.g. drops their <think> blocks, or marks the last turn)"
)
CONTENT_NOT_VERBATIM = "the chat template does not insert this conversation's contents verbatim"


def _marker(j: int) -> str:
    return f"\ue000{j}\ue001"


def _shape(message: dict[str, Any]) -> str:
    """What of a message a skeleton keeps: everything but its content (the role, for plain messages)."""
    if len(message) == 2 and "role" in message and "content" in message:
        return message["role"]
    return json.dumps({k: v for k, v in message.items() if k != "content"}, sort_keys=True, default=str)


@dataclass(frozen=True)
class _Skeleton:
    """A role sequence's render with markers for contents, split at the markers, and its assistant boundaries."""

    literals: tuple[str, ...]  # the template's own text between markers: len(markers) + 1 pieces
    markers: tuple[int, ...]  # which message's content each marker stands for, in text order
    marker_lengths: tuple[int, ...]
    # per assistant turn: (generation prompt's end, markers before it, turn's end, markers before it)
    boundaries: tuple[tuple[int, int, int, int], ...]


class TemplateSpans:
    """Assistant-turn boundaries of rendered conversations for one tokenizer's chat template (cached skeletons)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._renders: dict[tuple[tuple[str, ...], bool], str] = {}
        self._skeletons: dict[tuple[str, ...], _Skeleton | str] = {}

    def _render(self, shapes: tuple[str, ...], messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        key = (shapes, generation_prompt)
        if key not in self._renders:
            skeleton = [{**m, "content": _marker(j)} for j, m in enumerate(messages)]
            self._renders[key] = self.tokenizer.apply_chat_template(
                skeleton, tokenize=False, add_generation_prompt=generation_prompt
            )
        return self._renders[key]

    def _skeleton(self, shapes: tuple[str, ...], messages: list[dict[str, Any]]) -> _Skeleton | str:
        if shapes not in self._skeletons:
            try:
                self._skeletons[shapes] = self._build_skeleton(shapes, messages)
            except Exception as e:  # a template refusing the markers: the caller's renders raise if it is real
                self._skeletons[shapes] = f"the chat template failed on a skeleton conversation ({e})"
        return self._skeletons[shapes]

    def _build_skeleton(self, shapes: tuple[str, ...], messages: list[dict[str, Any]]) -> _Skeleton | str:
        whole = self._render(shapes, messages, False)
        cuts = []  # skeleton positions: the generation prompt's end and the turn's end, per assistant turn
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            if i == 0:  # the empty prefix cannot be rendered; the caller's fallback raises as before
                return "the conversation starts with an assistant turn"
            for k, generation_prompt in ((i, True), (i + 1, False)):
                prefix = self._render(shapes[:k], messages[:k], generation_prompt)
                if not whole.startswith(prefix):
                    return NOT_PREFIX_STABLE
                cuts.append(len(prefix))
        return _split(whole, cuts)

    def boundaries(self, messages: list[dict[str, Any]], rendered: str) -> list[tuple[int, int]] | str:
        """(end of the generation-prompt render, end of the turn's render) in `rendered` per assistant turn, in
        order; or why they cannot be found without rendering each prefix."""
        if not all(isinstance(m.get("content"), str) for m in messages):
            return "a message's content is not a string"
        shapes = tuple(_shape(m) for m in messages)
        skeleton = self._skeleton(shapes, messages)
        if isinstance(skeleton, str):
            return skeleton
        contents = [messages[j]["content"] for j in skeleton.markers]
        if "".join(chain.from_iterable(zip(skeleton.literals, [*contents, ""], strict=True))) != rendered:
            return CONTENT_NOT_VERBATIM
        # a skeleton position moves by how much longer each content before it is than its marker
        growth = (len(content) - n for content, n in zip(contents, skeleton.marker_lengths, strict=True))
        shift = list(accumulate(growth, initial=0))
        return [(g + shift[gm], e + shift[em]) for g, gm, e, em in skeleton.boundaries]


def _split(whole: str, cuts: list[int]) -> _Skeleton | str:
    """The skeleton `whole` split at its markers, with each cut as (position, markers before it)."""
    literals, markers, spans, at = [], [], [], 0
    for match in _MARKER.finditer(whole):
        literals.append(whole[at : match.start()])
        markers.append(int(match.group(1)))
        spans.append((match.start(), match.end()))
        at = match.end()
    literals.append(whole[at:])
    located = []
    for cut in cuts:
        if any(start < cut < end for start, end in spans):
            return NOT_PREFIX_STABLE  # a prefix ends inside a content: not a boundary between turns
        located.append((cut, sum(end <= cut for _, end in spans)))
    pairs = tuple(located[k] + located[k + 1] for k in range(0, len(located), 2))
    return _Skeleton(tuple(literals), tuple(markers), tuple(len(_marker(j)) for j in markers), pairs)
