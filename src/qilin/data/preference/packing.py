"""Preference pairs packed with a shared prompt: the prompt runs once, chosen and rejected branch off it.

trl's DPOTrainer runs each pair as two padded rows, prompt + chosen and prompt + rejected, so every prompt token is
computed twice (on multi-turn data the prompt is most of the tokens) and short pairs are padded to the longest. Here
one pair is laid out in one row as

    shared prompt[:-1] | prompt[-1] chosen... | prompt[-1] rejected...
    positions 0..n-2   | n-1, n, ...          | n-1, n, ...

and several pairs share a row. The attention mask (built from `pair_ids` and `branch_ids` by
`qilin.training.packed_dpo`) lets each branch see the shared prompt and itself, never the other branch or another
pair. Each branch opens with a copy of the last prompt token, at the last prompt position: its hidden state equals
the prompt's own, so it predicts the first answer token of its branch as the prompt's last token does in trl's
layout (a plain shift-by-one layout would predict the rejected answer's first token from the chosen answer's last).

Labels are pre-shifted (`shift_labels[t]` is the token position t predicts, -100 for none), the form trl's fused
LM head takes, and `label_pairs` / `label_branches` say which pair and branch each label scores, so the chosen and
rejected log-probs of pair i are sums over its labels. Truncation follows trl's collator with `keep_start`: prompt +
answer is cut to `max_length`, per branch.
"""

from __future__ import annotations

from typing import Any

import torch

IGNORE_INDEX = -100  # torch's cross-entropy default, which trl's fused head also skips
SHARED, CHOSEN, REJECTED = 0, 1, 2
PAD_PAIR = -1


def pair_layout(prompt: list[int], chosen: list[int], rejected: list[int], max_length: int | None) -> dict[str, list]:
    """One pair's tokens, positions, pre-shifted labels and branch of each token (see the module docstring)."""
    if max_length is not None:
        # trl's collator truncates prompt + answer to max_length; trl already dropped pairs whose prompt fills it.
        chosen = chosen[: max(max_length - len(prompt), 0)]
        rejected = rejected[: max(max_length - len(prompt), 0)]
    shared, opener = prompt[:-1], prompt[-1:]  # opener empty for an empty prompt: no token predicts the first one
    ids, positions, labels = list(shared), list(range(len(shared))), [IGNORE_INDEX] * len(shared)
    branches = [SHARED] * len(shared)
    for branch, answer in ((CHOSEN, chosen), (REJECTED, rejected)):
        tokens = opener + answer
        ids += tokens
        positions += range(len(shared), len(shared) + len(tokens))
        labels += [*tokens[1:], IGNORE_INDEX]
        branches += [branch] * len(tokens)
    return {"ids": ids, "positions": positions, "labels": labels, "branches": branches}


def layout_length(example: dict[str, Any], max_length: int | None) -> int:
    """Tokens one pair takes in a packed row."""
    return len(pair_layout(example["prompt_ids"], example["chosen_ids"], example["rejected_ids"], max_length)["ids"])


def pack_preference_rows(
    examples: list[dict[str, Any]],
    pad_token_id: int,
    max_length: int | None = None,
    row_tokens: int | None = None,
    pad_to_multiple_of: int | None = None,
) -> dict[str, torch.Tensor]:
    """Pairs (trl's tokenized columns prompt_ids, chosen_ids, rejected_ids) packed into rows.

    Rows hold at most `row_tokens` tokens (None: as many as the longest pair, the row length padding needs anyway);
    pairs go longest first into the first row with room (first-fit decreasing), and a pair longer than `row_tokens`
    gets a row of its own. Rows are right-padded to the longest (padding has pair id -1). Pair ids are the examples'
    indices, so the outputs are in example order whatever the rows. Returns input_ids, position_ids, shift_labels,
    pair_ids, branch_ids, label_pairs (pair of each label, -1 for none) and label_branches, all (R, L), plus
    ref_chosen_logps / ref_rejected_logps (P,) when the examples carry them.
    """
    layouts = [pair_layout(e["prompt_ids"], e["chosen_ids"], e["rejected_ids"], max_length) for e in examples]
    capacity = row_tokens or max(len(pair["ids"]) for pair in layouts)
    rows: list[dict[str, list]] = []
    for index in sorted(range(len(layouts)), key=lambda i: -len(layouts[i]["ids"])):
        pair = layouts[index]
        size = len(pair["ids"])
        row = next((r for r in rows if len(r["ids"]) + size <= capacity), None)
        if row is None:
            row = {"ids": [], "positions": [], "labels": [], "branches": [], "pairs": []}
            rows.append(row)
        for key in ("ids", "positions", "labels", "branches"):
            row[key] += pair[key]
        row["pairs"] += [index] * size
    width = max(len(row["ids"]) for row in rows)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of

    def padded(key: str, value: int) -> torch.Tensor:
        return torch.tensor([row[key] + [value] * (width - len(row[key])) for row in rows], dtype=torch.long)

    labels = padded("labels", IGNORE_INDEX)
    pair_ids, branch_ids = padded("pairs", PAD_PAIR), padded("branches", SHARED)
    scored = labels != IGNORE_INDEX
    batch = {
        "input_ids": padded("ids", pad_token_id),
        "position_ids": padded("positions", 0),
        "shift_labels": labels,
        "pair_ids": pair_ids,
        "branch_ids": branch_ids,
        "label_pairs": pair_ids.masked_fill(~scored, PAD_PAIR),
        "label_branches": branch_ids.masked_fill(~scored, SHARED),
    }
    for column in ("ref_chosen_logps", "ref_rejected_logps"):
        if column in examples[0]:
            batch[column] = torch.tensor([example[column] for example in examples], dtype=torch.float32)
    return batch


class PackedPreferenceCollator:
    """trl's tokenized pairs to packed rows (a DataLoader collate_fn)."""

    def __init__(
        self,
        pad_token_id: int,
        max_length: int | None,
        row_tokens: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        self.pad_token_id, self.max_length = pad_token_id, max_length
        self.row_tokens, self.pad_to_multiple_of = row_tokens, pad_to_multiple_of

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pack_preference_rows(
            examples, self.pad_token_id, self.max_length, self.row_tokens, self.pad_to_multiple_of
        )
