"""Pack tokenized conversations into rows of at most `max_length` tokens, with no attention across them.

Conversations are never split (a cut conversation would lose its question); rows are filled best-fit
decreasing, so a few percent of each row is left empty instead of the 30-60% a padded batch of mixed lengths
wastes. As in CPT packing, position ids restart at 0 at every conversation and no attention mask is passed,
so transformers builds a block-diagonal causal mask (`masking_utils.find_packed_sequence_indices`) and a
conversation never sees its neighbour. Loss needs nothing special: a conversation starts with a prompt token,
whose label is already IGNORE_INDEX, so the previous conversation's last token predicts nothing.
"""

from __future__ import annotations

import bisect
from typing import Any

import torch

from qilin.chat_templates import IGNORE_INDEX


def pack_conversations(examples: list[dict[str, list[int]]], max_length: int) -> list[dict[str, list[int]]]:
    """Rows of {input_ids, labels, position_ids, members (example indices)}: whole conversations, best fit."""
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i]["input_ids"]), i))
    rows: list[list[int]] = []  # example indices per row
    free: list[tuple[int, int]] = []  # (free tokens, row), sorted: the fullest row that still fits comes first
    for i in order:
        size = len(examples[i]["input_ids"])
        at = bisect.bisect_left(free, (size, -1))
        if at < len(free):
            space, row = free.pop(at)
        else:
            space, row = max_length, len(rows)
            rows.append([])
        rows[row].append(i)
        if space - size > 0:
            bisect.insort(free, (space - size, row))
    packed = []
    for members in rows:
        ids, labels, positions = [], [], []
        for i in members:
            ids += examples[i]["input_ids"]
            labels += examples[i]["labels"]
            positions += range(len(examples[i]["input_ids"]))
        packed.append({"input_ids": ids, "labels": labels, "position_ids": positions, "members": members})
    return packed


class PackedCollator:
    """Pad packed rows to the longest in the batch; padding is a segment of its own with no labels."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)  # (B, T)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        positions = torch.arange(width).repeat(len(rows), 1)
        for b, row in enumerate(rows):
            n = len(row["input_ids"])
            ids[b, :n] = torch.tensor(row["input_ids"])
            labels[b, :n] = torch.tensor(row["labels"])
            positions[b, :n] = torch.tensor(row["position_ids"])
            positions[b, n:] = torch.arange(width - n)  # padding: a separate segment, never attended to
        return {"input_ids": ids, "labels": labels, "position_ids": positions}
