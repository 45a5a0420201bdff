"""Batched generation: left padding, greedy by default, stopping at the template's end of turn.

`generate_texts` serves text models (prompts as strings, KV cache, stop strings); `generate_vl_texts` serves the VL
model (prompts as token ids with expanded image tokens, from `qilin.data.vision.dataset.vl_prompt_ids`, and pixel
values), cutting each reply at its first end-of-turn id. `qilin serve` streams and batches its own way (see
serve/engine.py) but builds its prompts and ends its turns by the same rules.
"""

from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from qilin.chat_templates import end_of_turn_ids, stop_strings


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


def cut_at_end_of_turn(tokens: list[int], stops: set[int]) -> list[int]:
    """The tokens before the first end-of-turn id (see `qilin.chat_templates.end_of_turn_ids`)."""
    end = next((i for i, t in enumerate(tokens) if t in stops), len(tokens))
    return tokens[:end]


@torch.no_grad()
def generate_vl_texts(
    model: Any, tokenizer: Any, prompt_ids: list[list[int]], pixel_values: torch.Tensor, max_new_tokens: int = 128
) -> list[str]:
    """A VL model's greedy reply to each prompt (token ids, image tokens expanded), its image at the same index of
    `pixel_values` (N, C, H, W), cut at the end of its turn."""
    pad = tokenizer.pad_token_id
    width = max(map(len, prompt_ids))
    ids = torch.full((len(prompt_ids), width), pad, dtype=torch.long)  # (B, T), left-padded: replies grow rightwards
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for row, prompt in enumerate(prompt_ids):
        ids[row, width - len(prompt) :] = torch.tensor(prompt)
        mask[row, width - len(prompt) :] = 1
    device = next(model.parameters()).device
    out = model.generate(
        input_ids=ids.to(device),
        pixel_values=pixel_values.to(device),
        attention_mask=mask.to(device),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=pad,
    )  # (B, new): the VL model returns the new tokens only
    stops = end_of_turn_ids(tokenizer, model.language_model.generation_config.eos_token_id)
    return [tokenizer.decode(cut_at_end_of_turn(row, stops), skip_special_tokens=True).strip() for row in out.tolist()]
