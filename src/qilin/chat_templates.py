"""Chat templates: one rendering path for SFT, DPO, chat and serving (a leaf module: imports nothing of ours).

Every stage renders conversations through `tokenizer.apply_chat_template`, the same call trl's DPOTrainer
makes, so the prompt a model is tuned on in SFT is byte for byte the prompt DPO and inference use. (The
original Qilin-Med code formatted DPO prompts differently from SFT; we do not repeat that.)
"""

from __future__ import annotations

from typing import Any

IGNORE_INDEX = -100

# Where the image goes in a vision-language prompt; the VL model expands it into one position per image feature.
IMAGE_TOKEN = "<image>"

# Named templates for base models whose tokenizer has none. Each assistant turn ends with an explicit end
# marker so a tuned model learns to stop.
NAMED_TEMPLATES: dict[str, str] = {
    "chatml": (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "llama2": (
        "{% if messages[0]['role'] == 'system' %}{% set sys = '<<SYS>>\n' + messages[0]['content'] + "
        "'\n<</SYS>>\n\n' %}{% set messages = messages[1:] %}{% else %}{% set sys = '' %}{% endif %}"
        "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token }}[INST] "
        "{% if loop.first %}{{ sys }}{% endif %}{{ m['content'] }} [/INST]"
        "{% else %} {{ m['content'] }} {{ eos_token }}{% endif %}{% endfor %}"
    ),
    "vicuna": (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
        "{% elif m['role'] == 'user' %}USER: {{ m['content'] }}\n"
        "{% else %}ASSISTANT: {{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    ),
}

# Strings that end an assistant turn in the named templates, used as generation stop strings.
END_OF_TURN = {"chatml": "<|im_end|>"}


def ensure_chat_template(tokenizer: Any, name: str | None) -> str:
    """Give the tokenizer a chat template: the named one if set, else its own, else 'chatml'. Returns its source."""
    if name is not None:
        if name not in NAMED_TEMPLATES:
            raise ValueError(f"unknown chat template {name!r}; named templates: {', '.join(NAMED_TEMPLATES)}")
        tokenizer.chat_template = NAMED_TEMPLATES[name]
    elif not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = NAMED_TEMPLATES["chatml"]
    return tokenizer.chat_template


def chat_token_ids(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> list[int]:
    """Token ids of a conversation rendered with the tokenizer's chat template (trl's exact call)."""
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=add_generation_prompt
    )
    return list(out["input_ids"])


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The text a model sees before it answers the last user turn."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def stop_strings(tokenizer: Any) -> list[str]:
    """End-of-turn markers that generation should stop at, beyond the EOS token."""
    template = getattr(tokenizer, "chat_template", "") or ""
    return [marker for marker in END_OF_TURN.values() if marker in template]


def end_of_turn_ids(tokenizer: Any, generation_eos: int | list[int] | None = None) -> set[int]:
    """Token ids that end an assistant turn: EOS (the tokenizer's and the model's) and single-token end markers.

    Cutting on ids as well as on strings matters where a marker such as `<|im_end|>` is an added special
    token: decoding with skip_special_tokens drops it, and a string search would never find it.
    """
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    ids |= set(generation_eos if isinstance(generation_eos, list) else [generation_eos] if generation_eos else [])
    for marker in stop_strings(tokenizer):
        marker_ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
        if len(marker_ids) == 1:
            ids.add(marker_ids[0])
    return ids
