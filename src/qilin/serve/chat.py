"""Talking to a trained model with the chat template it was tuned with."""

from __future__ import annotations

from typing import Any

from qilin.chat_templates import render_prompt
from qilin.models.generation import generate_texts, generate_vl_texts


def generate_reply(
    model: Any, tokenizer: Any, messages: list[dict[str, str]], max_new_tokens: int = 256, temperature: float = 0.0
) -> str:
    """The assistant's next turn: the conversation rendered with the training template, then generated."""
    prompt = render_prompt(tokenizer, messages)
    return generate_texts(model, tokenizer, [prompt], max_new_tokens, temperature=temperature)[0]


def chat_loop(
    model: Any,
    tokenizer: Any,
    system: str | None = None,
    max_new_tokens: int = 256,
    retriever: Any = None,
    rag_top_k: int = 3,
) -> None:
    """An interactive terminal chat; an empty line or Ctrl-D ends it, /reset forgets the conversation.

    With a retriever, each question is sent with its top passages in front (shown before the answer).
    """
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    # print, not logging: this is the conversation itself, shown to the person at the terminal whatever the log level
    print("Type a question (empty line to quit, /reset to start over).")
    while True:
        try:
            text = input("你> ").strip()
        except EOFError:
            break
        if not text:
            break
        if text == "/reset":
            messages = messages[:1] if system else []
            continue
        if retriever is not None:
            from qilin.rag.prompt import rag_prompt

            passages = retriever.search(text, rag_top_k)
            for i, passage in enumerate(passages, 1):
                print(f"  [{i}] {passage.text}")
            text = rag_prompt(text, passages)
        messages.append({"role": "user", "content": text})
        reply = generate_reply(model, tokenizer, messages, max_new_tokens)
        messages.append({"role": "assistant", "content": reply})
        print(f"Qilin> {reply}")


def generate_vl_reply(
    model: Any, tokenizer: Any, processor: Any, image: Any, messages: list[dict[str, str]], max_new_tokens: int = 128
) -> str:
    """A VL model's reply about one image (a path or a PIL image); `<image>` goes before the first user turn."""
    from qilin.data.vision.dataset import image_pixels, vl_prompt_ids

    ids = vl_prompt_ids(tokenizer, messages, model.config.image_token_index, model.num_image_tokens)
    return generate_vl_texts(model, tokenizer, [ids], image_pixels(processor, [image]), max_new_tokens)[0]
