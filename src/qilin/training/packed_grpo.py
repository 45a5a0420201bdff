"""Packed GRPO: the G completions of a prompt in one sequence, the prompt computed once per group.

trl's GRPOTrainer runs every completion as its own row, prompt + completion, so each prompt is computed G times by
the policy (and again by the reference, and by the old policy when it is kept): on exam stems, retrieved passages or
multi-turn prompts that is most of the work. Here a group is laid out as

    prompt[:-1] | prompt[-1] completion 1 | prompt[-1] completion 2 | ... | prompt[-1] completion G
    0..n-2      | n-1, n, ...             | n-1, n, ...             |     | n-1, n, ...

the packed DPO layout (`qilin.data.preference.packing`) with G branches: each branch sees the prompt and itself
(`qilin.training.packed_dpo.attention_mask_for`, per kernel), opens with a copy of the last prompt token at its
position so it predicts its first completion token as trl's row does, and its labels are pre-shifted for trl's fused
LM head (temperature and entropy included). Only `_get_per_token_logps_and_entropies` changes: it finds the rows
that share a prompt, packs them, and returns per-token log-probs and entropies in trl's (rows, completion) layout, so
trl's advantages, clipping, KL, loss types and metrics are untouched. Where the model cannot take the branch mask
(FlashAttention-2, remote code: `packing_unavailable`), or a batch carries images, trl's rows run.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import GRPOTrainer

from qilin.data.preference.packing import IGNORE_INDEX, PAD_PAIR, SHARED
from qilin.training.packed_dpo import DENSE_MASK_KERNELS, attention_mask_for, packing_unavailable


def group_rows(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> list[list[int]]:
    """Indices of the rows sharing each distinct prompt (its unpadded tokens), in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for row, (ids, mask) in enumerate(zip(prompt_ids.tolist(), prompt_mask.tolist(), strict=True)):
        groups.setdefault(tuple(t for t, m in zip(ids, mask, strict=True) if m), []).append(row)
    return list(groups.values())


def group_layout(prompt: list[int], completions: list[list[int]]) -> dict[str, list[int]]:
    """One group's tokens, positions, pre-shifted labels, branch of each token (0: the prompt, k: completion k) and
    `slots`: for each completion token in order, the position whose label scores it."""
    shared, opener = prompt[:-1], prompt[-1:]
    out: dict[str, list[Any]] = {
        "ids": list(shared),
        "positions": list(range(len(shared))),
        "labels": [IGNORE_INDEX] * len(shared),
        "branches": [SHARED] * len(shared),
        "slots": [],
    }
    for branch, completion in enumerate(completions, 1):
        tokens = opener + completion
        start = len(out["ids"])
        out["ids"] += tokens
        out["positions"] += range(len(shared), len(shared) + len(tokens))
        out["labels"] += [*tokens[1:], IGNORE_INDEX]
        out["branches"] += [branch] * len(tokens)
        out["slots"].append(list(range(start, start + len(completion))))
    return out


def pack_groups(layouts: list[dict[str, list]], pad_token_id: int, row_tokens: int | None) -> tuple[dict, list]:
    """Groups into rows (first-fit decreasing, at most `row_tokens` each; None: the longest group's length); returns
    the (R, L) tensors and, per group, (row, offset) of where it went."""
    capacity = row_tokens or max(len(g["ids"]) for g in layouts)
    rows: list[dict[str, list]] = []
    placed: list[tuple[int, int]] = [(0, 0)] * len(layouts)
    for index in sorted(range(len(layouts)), key=lambda i: -len(layouts[i]["ids"])):
        group = layouts[index]
        size = len(group["ids"])
        row = next((r for r, row in enumerate(rows) if len(row["ids"]) + size <= capacity), None)
        if row is None:
            rows.append({"ids": [], "positions": [], "labels": [], "branches": [], "groups": []})
            row = len(rows) - 1
        placed[index] = (row, len(rows[row]["ids"]))
        for key in ("ids", "positions", "labels", "branches"):
            rows[row][key] += group[key]
        rows[row]["groups"] += [index] * size
    width = max(len(r["ids"]) for r in rows)

    def padded(key: str, value: int) -> torch.Tensor:
        return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows], dtype=torch.long)

    tensors = {
        "input_ids": padded("ids", pad_token_id),
        "position_ids": padded("positions", 0),
        "shift_labels": padded("labels", IGNORE_INDEX),
        "group_ids": padded("groups", PAD_PAIR),
        "branch_ids": padded("branches", SHARED),
    }
    return tensors, placed


class PackedGRPOMixin:
    """Mixed in before trl's GRPOTrainer: per-token log-probs and entropies computed from packed groups."""

    pack_row_tokens: int | None = None  # None: rows as long as the longest group (dense masks), see the stage

    def _get_per_token_logps_and_entropies(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
        batch_size: int | None = None,
        compute_entropy: bool = False,
        compute_aux_loss: bool = False,
        **multimodal: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """trl's (rows, completion) log-probs and entropies, each prompt run once per group of completions."""
        if compute_aux_loss or any(v is not None for v in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(  # images and MoE aux losses: trl's rows
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                **multimodal,
            )  # fmt: skip
        prompt_ids, prompt_mask = input_ids[:, :-logits_to_keep], attention_mask[:, :-logits_to_keep]
        completion_ids, completion_mask = input_ids[:, -logits_to_keep:], attention_mask[:, -logits_to_keep:]
        groups = group_rows(prompt_ids, prompt_mask)
        ids, masks = completion_ids.tolist(), completion_mask.tolist()
        layouts = []
        for rows in groups:
            prompt = [t for t, m in zip(prompt_ids[rows[0]].tolist(), prompt_mask[rows[0]].tolist(), strict=True) if m]
            completions = [[t for t, m in zip(ids[r], masks[r], strict=True) if m] for r in rows]
            layouts.append(group_layout(prompt, completions))
        pad = self.processing_class.pad_token_id if self.processing_class.pad_token_id is not None else 0
        packed, placed = pack_groups(layouts, pad, self.pack_row_tokens)
        device = input_ids.device
        packed = {k: v.to(device) for k, v in packed.items()}
        kernel = self.accelerator.unwrap_model(self.model).config._attn_implementation
        dtype = next(model.parameters()).dtype
        mask = attention_mask_for(kernel, packed["group_ids"], packed["branch_ids"], dtype)
        with self.accelerator.autocast():
            outputs = model(
                input_ids=packed["input_ids"],
                attention_mask=mask,
                position_ids=packed["position_ids"],
                shift_labels=packed["shift_labels"],
                fused_lm_head=True,
                use_cache=False,
            )
        # Gather each completion token's value from the position that predicts it: (rows, completion), 0 elsewhere.
        source_row, source_pos, target_row, target_col = [], [], [], []
        for layout, rows, (packed_row, offset) in zip(layouts, groups, placed, strict=True):
            for r, slots in zip(rows, layout["slots"], strict=True):
                source_row += [packed_row] * len(slots)
                source_pos += [offset + s for s in slots]
                target_row += [r] * len(slots)
                target_col += range(len(slots))
        index = [torch.tensor(x, dtype=torch.long, device=device) for x in (source_row, source_pos)]
        target = [torch.tensor(x, dtype=torch.long, device=device) for x in (target_row, target_col)]

        def scatter(values: torch.Tensor) -> torch.Tensor:
            out = values.new_zeros(completion_ids.shape)
            return out.index_put((target[0], target[1]), values[index[0], index[1]])

        logps = scatter(outputs.log_probs)
        entropies = scatter(outputs.entropy) if compute_entropy else None
        return logps, entropies, None


class PackedGRPOTrainer(PackedGRPOMixin, GRPOTrainer):
    """trl's GRPOTrainer computing each prompt once per group of completions."""


__all__ = [
    "DENSE_MASK_KERNELS",
    "PackedGRPOTrainer",
    "group_layout",
    "group_rows",
    "pack_groups",
    "packing_unavailable",
]
