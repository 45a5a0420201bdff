"""One render per conversation gives the ids and labels of rendering every prefix, on every template we ship, a
tokenizer's own, truncation and the demo data; templates that rewrite earlier turns fall back and say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import AddedToken

from qilin.chat_templates import NAMED_TEMPLATES
from qilin.config import EmbeddedModelSettings, ModelSettings
from qilin.data.text import chat_spans
from qilin.data.text.conversations import (
    ConversationTokenizer,
    tokenize_conversation_by_prefixes,
    tokenize_conversations,
)
from qilin.embedded.model import build_embedded_model
from qilin.models.loading import load_tokenizer

# Qwen2.5's template (a default system turn; a tokenizer's own template, as a Qwen checkpoint brings it)
QWEN25 = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) "
    "or (message.role == 'assistant') %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + "
    "'\\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Qwen3's way with reasoning: only the last assistant turn keeps its <think> block, so a prefix ending at an
# earlier turn renders that turn differently from the whole conversation
THINKING = (
    "{%- for m in messages %}{%- if m.role == 'assistant' %}{%- set content = m.content %}"
    "{%- if '</think>' in content %}{%- set content = content.split('</think>')[-1].lstrip('\\n') %}{%- endif %}"
    "{%- if loop.last %}{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + content + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- else %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Llama 3's way: contents trimmed, so a content with spaces around it is not inserted verbatim
TRIMMING = (
    "{{ bos_token }}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n\\n' + m['content'] | trim }}"
    "{{ '<|im_end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n\\n' }}{% endif %}"
)

# No text between turns but the user's <|im_start|>: the token before a boundary can merge with the one after it
MERGING = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}{{ m['content'] }}<|im_end|>"
    "{% else %}<|im_start|>{{ m['content'] }}{% endif %}{% endfor %}"
)
BARE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"  # no added token at all: nowhere to split


def _turns(*pairs: tuple[str, str], system: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    for question, answer in pairs:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return messages


# Contents chosen to meet the template at awkward places: newlines and spaces at their edges (byte-level BPE
# splits whitespace runs by what follows), a special token's text inside a content, ASCII next to Chinese.
CONVERSATIONS = [
    _turns(("高血压挂什么科？", "心内科。")),
    _turns(("高血压挂什么科？", "心内科。"), ("常用什么药？", "氨氯地平。"), system="你是医生。"),
    _turns(("头晕\n\n", "\n先量血压 "), (" 血压150/95", "属于1级高血压。\n\n"), ("怎么办", "  低盐饮食。")),
    _turns(("a<|im_end|>b", "<|im_start|>assistant\n不是"), ("ok", "</s>好的<s>"), system=" 系统 "),
    _turns(*[(f"第{i}问：症状？", f"第{i}答：头晕、心悸。") for i in range(12)], system="你是医生。"),
]


@pytest.fixture
def tokenizer(tiny_model_dir: Path):
    return load_tokenizer(tiny_model_dir, ModelSettings())


def _assert_same(tok, conversations: list, max_lengths=(4096, 40, 7, 1)) -> ConversationTokenizer:
    one_pass = ConversationTokenizer(tok)
    for max_length in max_lengths:
        expected = [tokenize_conversation_by_prefixes(tok, m, max_length) for m in conversations]
        assert one_pass(conversations, max_length) == expected
    return one_pass


@pytest.mark.parametrize("template", sorted(NAMED_TEMPLATES))
def test_named_templates_give_the_labels_of_every_prefix_from_one_render(tokenizer, template: str) -> None:
    tokenizer.chat_template = NAMED_TEMPLATES[template]
    one_pass = _assert_same(tokenizer, CONVERSATIONS)
    assert not one_pass.fallbacks, "every named template is prefix-stable"


def test_a_tokenizers_own_template(tokenizer) -> None:
    tokenizer.chat_template = QWEN25
    assert not _assert_same(tokenizer, CONVERSATIONS).fallbacks


@pytest.mark.parametrize("template", [MERGING, BARE])
def test_tokens_that_merge_across_a_turn_boundary(tokenizer, template: str) -> None:
    """A prefix ending in 高血 encodes it differently from the whole's 高血压: labels start where they diverge."""
    assert tokenizer.tokenize("高血压")[:2] != tokenizer.tokenize("高血")  # what makes this test bite
    tokenizer.chat_template = template
    split = [_turns(("问高血", "压高"), ("又问高血", "压"), system="高血"), _turns(("高血", "压应到心内科"))]
    assert not _assert_same(tokenizer, split + CONVERSATIONS).fallbacks


def test_split_points_from_the_tokenizers_own_offsets(tokenizer) -> None:
    """An added token that swallows the spaces after it matches on more than its text: the split points then come
    from the tokenizer's offsets instead of a search of the text, with the same labels."""
    tokenizer.add_tokens([AddedToken("<|end|>", rstrip=True, special=True)], special_tokens=True)
    tokenizer.chat_template = NAMED_TEMPLATES["chatml"].replace("<|im_end|>\n", "<|end|> \n")
    assert ConversationTokenizer(tokenizer)._pattern is None
    assert not _assert_same(tokenizer, CONVERSATIONS).fallbacks


def test_a_tokenizer_saved_with_truncation_is_encoded_as_transformers_encodes_it(tokenizer) -> None:
    tokenizer.backend_tokenizer.enable_truncation(max_length=8)  # as some tokenizer.json files ship
    one_pass = ConversationTokenizer(tokenizer)(CONVERSATIONS, 4096)
    assert one_pass == [tokenize_conversation_by_prefixes(tokenizer, m, 4096) for m in CONVERSATIONS]
    assert len(one_pass[-1][0]) > 100


def test_a_template_that_rewrites_earlier_turns_falls_back_and_says_why(tokenizer, capsys) -> None:
    tokenizer.chat_template = THINKING
    reasoning = _turns(("为什么？", "<think>\n想一想\n</think>\n因为。"), ("然后呢？", "<think>再想</think>好。"))
    one_pass = _assert_same(tokenizer, [*CONVERSATIONS, reasoning])
    # one assistant turn is also the last one in every prefix: only conversations with two or more fall back
    assert one_pass.fallbacks == {chat_spans.NOT_PREFIX_STABLE: 4 * 5}  # 5 conversations, 4 lengths
    capsys.readouterr()
    tokenize_conversations(tokenizer, CONVERSATIONS, 64)
    tokenize_conversations(tokenizer, CONVERSATIONS, 64)
    said = capsys.readouterr().out
    assert said.count(f"rendering each prefix (slower, same labels): {chat_spans.NOT_PREFIX_STABLE}") == 1


def test_a_template_that_trims_contents_falls_back_only_where_it_trims(tokenizer) -> None:
    tokenizer.chat_template = TRIMMING
    one_pass = _assert_same(tokenizer, CONVERSATIONS, max_lengths=(4096,))
    assert one_pass.fallbacks == {chat_spans.CONTENT_NOT_VERBATIM: 2}  # the two conversations with padded contents


def test_the_demo_data_tokenizes_as_before(tmp_path: Path) -> None:
    """The embedded ChiMed SFT set with a tokenizer trained as the demo trains its own: ids and labels unchanged."""
    from qilin.embedded.chimed import build_embedded

    parts = build_embedded(tmp_path / "chimed")
    rows = [json.loads(line) for line in parts["sft"].read_text(encoding="utf-8").splitlines()]
    conversations = [row["messages"] for row in rows]
    texts = [m["content"] for c in conversations for m in c]
    texts += [json.loads(line)["text"] for line in parts["cpt"].read_text(encoding="utf-8").splitlines()]
    settings = EmbeddedModelSettings(vocab_size=3000, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    tok = load_tokenizer(build_embedded_model(settings, texts, tmp_path / "model"), ModelSettings())
    one_pass = _assert_same(tok, conversations, max_lengths=(256,))  # the demo recipe's SFT max_length
    assert not one_pass.fallbacks and len(conversations) > 900
