"""The forgetting check: a general-domain multiple-choice exam scored per stage exactly as CMExam is.

A domain model that gains medicine may lose what its base knew. Any CSV in CMExam's layout serves as the general
exam (the bundled one, `embedded:general-exam`, asks capitals, continents, animal classes, element symbols, SI
units and small sums and products); its accuracy after each stage beside the base's shows the forgetting, and
what replay (`stages.cpt.replay`) buys back.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from qilin.chat_templates import IGNORE_INDEX
from qilin.eval.multiple_choice import ExamQuestion, accuracy_table


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


def general_metrics(
    model: Any,
    tokenizer: Any,
    questions: list[ExamQuestion],
    predictions: dict[str, list[frozenset[str]]],
    batch_size: int = 32,
) -> dict[str, Any]:
    """general_acc and general_acc_norm (%) from the log-likelihood predictions, the question count, acc per
    Domain, and general_loss: the loss on the exam's Explanation texts (the bundled exam's are the facts as the
    general corpus states them), measured the same way after every stage, where CPT's loss/<source> exists only
    while it trains."""
    acc = accuracy_table(questions, predictions["acc"])
    by_domain = {k.split("=", 1)[1]: v["accuracy"] for k, v in acc.items() if k.startswith("Domain=")}
    metrics = {
        "general_acc": acc["all"]["accuracy"],
        "general_acc_norm": accuracy_table(questions, predictions["acc_norm"])["all"]["accuracy"],
        "general_acc_n": acc["all"]["n"],
        **({"general_by_domain": by_domain} if by_domain else {}),
    }
    explanations = [q.explanation for q in questions if q.explanation]
    if explanations:
        metrics["general_loss"] = round(text_loss(model, tokenizer, explanations, batch_size), 4)
    return metrics
