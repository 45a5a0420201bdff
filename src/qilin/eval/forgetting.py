"""The forgetting check: a general-domain multiple-choice exam scored per stage exactly as CMExam is (an `mcq`
entry with `loss: true`, `qilin.eval.suite.mcq`), and the loss on its Explanation texts.

A domain model that gains medicine may lose what its base knew. Any CSV in CMExam's layout serves as the general
exam (the bundled one, `embedded:general-exam`, asks capitals, continents, animal classes, element symbols, SI
units and small sums and products); its accuracy after each stage beside the base's shows the forgetting, and
what replay (`stages.cpt.replay`) buys back. The loss (`general_loss`) is measured the same way after every
stage, where CPT's loss/<source> exists only while it trains.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from qilin.chat_templates import IGNORE_INDEX


@torch.no_grad()
def text_loss(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 32) -> float:
    """Mean next-token loss (nats per token) over `texts`, each scored on its own (padding ignored)."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts[start : start + batch_size]]
        width = max(len(i) for i in ids)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        batch = torch.tensor([i + [pad] * (width - len(i)) for i in ids], device=device)  # (B, T), padded right
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids], device=device)  # (B, T)
        labels = batch.masked_fill(mask == 0, IGNORE_INDEX)[:, 1:]  # (B, T-1): token t+1 is predicted from t
        logits = model(input_ids=batch, attention_mask=mask, use_cache=False).logits[:, :-1].float()  # (B, T-1, V)
        total += F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="sum").item()
        count += int((labels != IGNORE_INDEX).sum())
    return total / max(count, 1)
