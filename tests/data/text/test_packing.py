"""Packing: blocks carry no cross-document attention, and packed loss equals unpacked loss."""

import itertools

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from qilin.chat_templates import IGNORE_INDEX
from qilin.data.text.packing import PAD_POSITION, labels_and_positions, pack_documents, pack_token_batches


def test_pack_documents_restarts_positions_and_pads_the_tail() -> None:
    blocks = list(pack_documents([[1, 2, 3], [4, 5], [6, 7, 8, 9]], block_size=4, pad_id=0))
    assert [b[0].tolist() for b in blocks] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 0, 0, 0]]
    assert [b[1].tolist() for b in blocks] == [[0, 1, 2, 0], [0, 0, 1, 2], [0, -1, -1, -1]]
    _, pos, labels = labels_and_positions(blocks[2])
    assert labels.tolist() == [IGNORE_INDEX] * 4  # a segment start and padding carry no label
    assert pos.tolist() == [0, 0, 1, 2]  # padding is its own segment
    assert PAD_POSITION not in pos.tolist()


def _unpacked_token_losses(model, segments: list[list[int]]) -> tuple[float, int]:
    total, count = 0.0, 0
    for seg in segments:
        ids = torch.tensor([seg])
        loss = model(input_ids=ids, labels=ids).loss
        total += loss.item() * (len(seg) - 1)
        count += len(seg) - 1
    return total, count


def _packed_loss(model, docs: list[list[int]], block_size: int) -> tuple[float, int]:
    total, count = 0.0, 0
    for block in pack_documents(docs, block_size, pad_id=0):
        ids, pos, labels = labels_and_positions(block)
        n = int((labels[1:] != IGNORE_INDEX).sum())
        if n == 0:
            continue
        loss = model(input_ids=ids[None], position_ids=pos[None], labels=labels[None], use_cache=False).loss
        total += loss.item() * n
        count += n
    return total, count


def test_packed_loss_equals_unpacked_loss(tiny_model_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    rng = np.random.default_rng(0)
    docs = [rng.integers(5, 400, size=n).tolist() for n in (7, 30, 12, 45, 3, 20)]
    with torch.no_grad():
        # every document fits in one block: packed equals the documents run one by one
        packed, n_packed = _packed_loss(model, docs, block_size=sum(map(len, docs)) + 5)
        unpacked, n_unpacked = _unpacked_token_losses(model, docs)
        assert n_packed == n_unpacked == sum(len(d) - 1 for d in docs)
        assert abs(packed / n_packed - unpacked / n_unpacked) < 1e-5

        # small blocks split documents: packed equals the resulting segments run one by one
        block = 16
        flat = [t for d in docs for t in d]
        bounds = np.cumsum([0] + [len(d) for d in docs])
        segments, start = [], 0
        for cut in sorted(set(bounds.tolist()) | set(range(0, len(flat), block)) | {len(flat)})[1:]:
            segments.append(flat[start:cut])
            start = cut
        packed, n_packed = _packed_loss(model, docs, block_size=block)
        unpacked, n_unpacked = _unpacked_token_losses(model, [s for s in segments if len(s) > 1])
        assert n_packed == n_unpacked
        assert abs(packed / n_packed - unpacked / n_unpacked) < 1e-5


def test_no_attention_across_documents(tiny_model_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    first, second = [11, 12, 13, 14], [21, 22, 23]
    other_first = [31, 32, 33, 34]
    outputs = []
    for doc in (first, other_first):
        (block,) = pack_documents([doc, second], block_size=7, pad_id=0)
        ids, pos, _ = labels_and_positions(block)
        with torch.no_grad():
            outputs.append(model(input_ids=ids[None], position_ids=pos[None], use_cache=False).logits[0, 4:])
    # the second document's logits do not depend on what the first document says
    torch.testing.assert_close(outputs[0], outputs[1])


def _pack_one_document_at_a_time(docs: list[list[int]], block_size: int, pad_id: int) -> list[np.ndarray]:
    """The packing rule written as plainly as possible: the reference the vectorized packer must match."""
    blocks, ids, pos = [], [], []
    for doc in docs:
        offset = 0
        for token in doc:
            ids.append(token)
            pos.append(offset)
            offset += 1
            if len(ids) == block_size:
                blocks.append(np.array([ids, pos], dtype=np.int32))
                ids, pos, offset = [], [], 0  # a document continuing into the next block starts a new segment
    if ids:
        pad = block_size - len(ids)
        blocks.append(np.array([ids + [pad_id] * pad, pos + [PAD_POSITION] * pad], dtype=np.int32))
    return blocks


def test_vectorized_packing_matches_the_plain_rule_whatever_the_batching() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        docs = [rng.integers(1, 400, size=rng.integers(1, 40)).tolist() for _ in range(rng.integers(1, 50))]
        block_size = int(rng.integers(1, 50))
        expected = _pack_one_document_at_a_time(docs, block_size, pad_id=0)
        assert [b.tolist() for b in pack_documents(docs, block_size, pad_id=0)] == [b.tolist() for b in expected]
        # the same documents cut into arbitrary batches of (flat ids, lengths) pack to the same blocks
        cuts = sorted(set(rng.integers(0, len(docs), size=3).tolist()) | {0, len(docs)})
        batches = [
            (np.array([t for d in docs[a:b] for t in d], dtype=np.int32), np.array([len(d) for d in docs[a:b]]))
            for a, b in itertools.pairwise(cuts)
        ]
        packed = np.concatenate(list(pack_token_batches(batches, block_size, pad_id=0)))  # (k, 2, block_size)
        np.testing.assert_array_equal(packed, np.stack(expected))
