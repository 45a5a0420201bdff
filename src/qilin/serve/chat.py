"""Talking to a trained model with the chat template it was tuned with."""

from __future__ import annotations

from typing import Any

from qilin.data.templates import render_prompt
from qilin.models.generation import generate_texts


def generate_reply(
    model: Any, tokenizer: Any, messages: list[dict[str, str]], max_new_tokens: int = 256, temperature: float = 0.0
) -> str:
    """The assistant's next turn: the conversation rendered with the training template, then generated."""
    prompt = render_prompt(tokenizer, messages)
    return generate_texts(model, tokenizer, [prompt], max_new_tokens, temperature=temperature)[0]


def chat_loop(model: Any, tokenizer: Any, system: str | None = None, max_new_tokens: int = 256) -> None:
    """An interactive terminal chat; an empty line or Ctrl-D ends it, /reset forgets the conversation."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
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
        messages.append({"role": "user", "content": text})
        reply = generate_reply(model, tokenizer, messages, max_new_tokens)
        messages.append({"role": "assistant", "content": reply})
        print(f"Qilin> {reply}")
