"""Talking to a trained model with the chat template it was tuned with."""

from __future__ import annotations

from typing import Any

from qilin.chat_templates import end_of_turn_ids, render_prompt
from qilin.models.generation import generate_texts


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
    import torch

    from qilin.data.vision.dataset import vl_prompt_ids
    from qilin.data.vision.images import load_image

    picture = load_image(image) if not hasattr(image, "convert") else image.convert("RGB")
    pixels = processor(images=picture, return_tensors="pt")["pixel_values"]
    ids = vl_prompt_ids(tokenizer, messages, model.config.image_token_index, model.num_image_tokens)
    out = model.generate(
        input_ids=torch.tensor([ids]),
        pixel_values=pixels,
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )[0].tolist()
    stops = end_of_turn_ids(tokenizer, model.language_model.generation_config.eos_token_id)
    end = next((i for i, t in enumerate(out) if t in stops), len(out))
    return tokenizer.decode(out[:end], skip_special_tokens=True).strip()
