"""Batched generation: left padding, KV cache, greedy by default, stopping at the template's end of turn."""

from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from qilin.chat_templates import stop_strings


@torch.no_grad()
def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    max_new_tokens: int = 256,
    batch_size: int = 16,
    temperature: float = 0.0,
) -> list[str]:
    """The continuation of each prompt (already rendered with the chat template), in order."""
    model.eval()
    stops = stop_strings(tokenizer)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right, so padding goes left
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    # longest first, so a batch holds prompts of similar length and memory errors show up at once
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    try:
        for start in tqdm(
            range(0, len(order), batch_size), desc="generating", unit=" batches", disable=len(order) <= batch_size
        ):
            idx = order[start : start + batch_size]
            batch = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            batch = batch.to(model.device)
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                stop_strings=stops or None,
                tokenizer=tokenizer,
                pad_token_id=tokenizer.pad_token_id,
                use_cache=True,
                **sampling,
            )
            new_tokens = out[:, batch["input_ids"].shape[1] :]  # (B, new)
            for i, ids in zip(idx, new_tokens, strict=True):
                text = tokenizer.decode(ids, skip_special_tokens=True)
                for marker in stops:
                    text = text.split(marker)[0]
                outputs[i] = text.strip()
    finally:
        tokenizer.padding_side = side
    return outputs
