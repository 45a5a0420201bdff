"""Packed preference rows: the shared prompt, the two branches, positions and pre-shifted labels."""

import torch

from qilin.data.preference.packing import (
    CHOSEN,
    IGNORE_INDEX,
    PAD_PAIR,
    REJECTED,
    SHARED,
    pack_preference_rows,
    pair_layout,
)

N = IGNORE_INDEX


def test_each_branch_opens_with_the_last_prompt_token_at_the_last_prompt_position() -> None:
    pair = pair_layout([1, 2, 3], [10, 11], [20], max_length=None)
    assert pair["ids"] == [1, 2, 3, 10, 11, 3, 20]
    assert pair["positions"] == [0, 1, 2, 3, 4, 2, 3]
    assert pair["branches"] == [SHARED, SHARED, CHOSEN, CHOSEN, CHOSEN, REJECTED, REJECTED]
    # position t holds the token it predicts: the opener copy predicts each answer's first token
    assert pair["labels"] == [N, N, 10, 11, N, 20, N]


def test_answers_are_truncated_as_trl_truncates_prompt_plus_answer() -> None:
    pair = pair_layout([1, 2, 3], [10, 11, 12], [20, 21], max_length=4)
    assert pair["ids"] == [1, 2, 3, 10, 3, 20]  # 3 prompt tokens + 1 answer token per branch
    assert pair["labels"] == [N, N, 10, N, 20, N]


def test_pairs_fill_rows_longest_first_and_keep_their_indices() -> None:
    examples = [
        {"prompt_ids": [1, 2], "chosen_ids": [5], "rejected_ids": [6]},  # 1 shared + 2 + 2 = 5 tokens
        {"prompt_ids": [1, 2, 3, 4], "chosen_ids": [5, 6], "rejected_ids": [7]},  # 3 + 3 + 2 = 8 tokens
        {"prompt_ids": [9], "chosen_ids": [5], "rejected_ids": []},  # 0 + 2 + 1 = 3 tokens
    ]
    batch = pack_preference_rows(examples, pad_token_id=0)
    # rows as long as the longest pair (8): [pair 1], [pair 0, pair 2]
    assert batch["input_ids"].shape == (2, 8)
    assert batch["pair_ids"].tolist() == [[1] * 8, [0] * 5 + [2] * 3]
    assert batch["input_ids"][1].tolist() == [1, 2, 5, 2, 6, 9, 5, 9]
    assert batch["position_ids"][1].tolist() == [0, 1, 2, 1, 2, 0, 1, 0]
    scored = batch["shift_labels"] != N
    # every answer token is scored exactly once, attributed to its own pair and branch
    for index, example in enumerate(examples):
        for branch, key in ((CHOSEN, "chosen_ids"), (REJECTED, "rejected_ids")):
            where = scored & (batch["label_pairs"] == index) & (batch["label_branches"] == branch)
            assert batch["shift_labels"][where].tolist() == example[key]
    assert (batch["label_pairs"][~scored] == PAD_PAIR).all()


def test_padding_and_row_cap() -> None:
    examples = [{"prompt_ids": [1, 2], "chosen_ids": [5], "rejected_ids": [6]}] * 3
    batch = pack_preference_rows(examples, pad_token_id=0, row_tokens=12)
    assert batch["input_ids"].shape == (2, 10)  # two pairs (5 tokens each) fit a row of 12, the third starts another
    assert batch["pair_ids"][1].tolist() == [2] * 5 + [PAD_PAIR] * 5
    assert batch["input_ids"][1, 5:].tolist() == [0] * 5
    with_ref = [{**e, "ref_chosen_logps": -1.0 - i, "ref_rejected_logps": -2.0} for i, e in enumerate(examples)]
    assert torch.equal(pack_preference_rows(with_ref, 0)["ref_chosen_logps"], torch.tensor([-1.0, -2.0, -3.0]))
