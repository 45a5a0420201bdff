"""Pack tokenized documents into fixed-size blocks with no attention across documents.

Documents are laid end to end (each ends with EOS) and cut into blocks of `block_size` tokens, so no token
is wasted on padding. Position ids restart at 0 at every document start and at every block start; given
position ids and no attention mask, transformers builds a block-diagonal causal mask
(`masking_utils.find_packed_sequence_indices`, transformers >= 4.54), so a token never sees another
document. That detection is skipped when a KV cache is passed, so training runs with `use_cache=False`.
The first token of each segment gets no label: predicting it would condition on the previous document.
With that, the packed loss per token equals the loss of the same segments run one by one.

Blocks stream to a flat int32 file on disk (input ids, then position ids, per block), written under a
temporary name and renamed when complete, so a corpus larger than memory packs in constant memory and a
half-written cache never looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from qilin.data.templates import IGNORE_INDEX

PAD_POSITION = -1  # marks padding in the stored position ids; never fed to the model


def pack_documents(docs: Iterable[list[int]], block_size: int, pad_id: int) -> Iterator[np.ndarray]:
    """Yield (2, block_size) int32 arrays of [input_ids, position_ids]; the last block is padded."""
    ids = np.empty(block_size, dtype=np.int32)
    pos = np.empty(block_size, dtype=np.int32)
    fill = 0
    for doc in docs:
        offset = 0  # position of the next token within its segment
        start = 0
        while start < len(doc):
            take = min(block_size - fill, len(doc) - start)
            ids[fill : fill + take] = doc[start : start + take]
            pos[fill : fill + take] = np.arange(offset, offset + take)
            fill += take
            start += take
            offset += take
            if fill == block_size:
                yield np.stack([ids, pos])
                fill = 0
                offset = 0  # a document continuing into the next block starts a new segment there
    if fill:
        ids[fill:] = pad_id
        pos[fill:] = PAD_POSITION
        yield np.stack([ids, pos])


def labels_and_positions(block: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, position_ids, labels) tensors for one stored block."""
    ids = torch.from_numpy(block[0].astype(np.int64))
    pos = torch.from_numpy(block[1].astype(np.int64))
    labels = ids.clone()
    labels[pos <= 0] = IGNORE_INDEX  # segment starts and padding
    pad = pos == PAD_POSITION
    if pad.any():  # padding becomes a segment of its own so it cannot disturb real tokens
        pos[pad] = torch.arange(int(pad.sum()))
    return ids, pos, labels


def write_blocks(blocks: Iterable[np.ndarray], path: Path) -> int:
    """Stream blocks into `path` atomically; returns the number of blocks."""
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("wb") as f:
        for block in blocks:
            f.write(np.ascontiguousarray(block, dtype=np.int32).tobytes())
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


class PackedBlocks(torch.utils.data.Dataset):
    """Memory-mapped packed blocks: each item is {input_ids, position_ids, labels} of one block."""

    def __init__(self, path: Path, block_size: int):
        self.data = np.memmap(path, dtype=np.int32, mode="r").reshape(-1, 2, block_size)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids, pos, labels = labels_and_positions(np.asarray(self.data[i]))
        return {"input_ids": ids, "position_ids": pos, "labels": labels}

    def real_tokens(self) -> int:
        """Tokens that are not padding."""
        return int((self.data[:, 1, :] != PAD_POSITION).sum())
