"""Talking to a trained model with the chat template it was tuned with."""

from __future__ import annotations

from typing import Any

import torch

from qilin.data.templates import render_prompt, stop_strings


@torch.no_grad()
def generate_reply(
    model: Any, tokenizer: Any, messages: list[dict[str, str]], max_new_tokens: int = 256, temperature: float = 0.0
) -> str:
    """The assistant's next turn: the conversation rendered with the training template, then generated."""
    prompt = render_prompt(tokenizer, messages)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    out = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        stop_strings=stop_strings(tokenizer) or None,
        tokenizer=tokenizer,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
        **sampling,
    )
    text = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    for marker in stop_strings(tokenizer):
        text = text.split(marker)[0]
    return text.strip()


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
