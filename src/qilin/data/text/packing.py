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
half-written cache never looks complete. A corpus mixing sources (medical text, general text, ...) packs each
source on its own, one after another, so a block holds one source only; a `.json` beside the file names each
source with its number of blocks and tokens, and holds the block size and a checksum that `check_packed` compares
the file against before it is used.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qilin.chat_templates import IGNORE_INDEX
from qilin.data.text.packed_cache import sampled_sha256

PAD_POSITION = -1  # marks padding in the stored position ids; never fed to the model
_DOCS_PER_BATCH = 1024  # pack_documents hands documents to the vectorized packer in batches of this many


def pack_token_batches(
    batches: Iterable[tuple[np.ndarray, np.ndarray]], block_size: int, pad_id: int
) -> Iterator[np.ndarray]:
    """Yield (k, 2, block_size) int32 arrays of [input_ids, position_ids]; the last block is padded.

    Each batch is (token ids of whole documents laid end to end, each document's length). Vectorized per batch:
    a token's position is its distance from the later of its document's start and its block's start.
    """
    tail_ids = np.empty(0, dtype=np.int32)  # tokens of the unfinished block; the buffer starts at a block start
    tail_pos = np.empty(0, dtype=np.int32)
    for ids, lengths in batches:
        lengths = np.asarray(lengths, dtype=np.int64)
        if not len(ids):
            continue
        offset = len(tail_ids)
        index = np.arange(offset, offset + len(ids))  # (N,) index in the buffer
        doc_start = offset + np.repeat(np.cumsum(lengths) - lengths, lengths)  # (N,)
        block_start = index - index % block_size  # (N,)
        pos = index - np.maximum(doc_start, block_start)  # (N,)
        buf_ids = np.concatenate([tail_ids, np.asarray(ids, dtype=np.int32)])
        buf_pos = np.concatenate([tail_pos, pos.astype(np.int32)])
        full = len(buf_ids) - len(buf_ids) % block_size
        if full:
            yield np.stack([buf_ids[:full].reshape(-1, block_size), buf_pos[:full].reshape(-1, block_size)], axis=1)
        tail_ids, tail_pos = buf_ids[full:], buf_pos[full:]
    if len(tail_ids):
        block = np.empty((1, 2, block_size), dtype=np.int32)
        block[0, 0] = pad_id
        block[0, 1] = PAD_POSITION
        block[0, 0, : len(tail_ids)] = tail_ids
        block[0, 1, : len(tail_pos)] = tail_pos
        yield block


def pack_documents(docs: Iterable[list[int]], block_size: int, pad_id: int) -> Iterator[np.ndarray]:
    """Yield (2, block_size) int32 arrays of [input_ids, position_ids]; the last block is padded."""
    docs = iter(docs)

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while batch := list(islice(docs, _DOCS_PER_BATCH)):
            lengths = np.array([len(d) for d in batch], dtype=np.int64)
            flat = np.concatenate([np.asarray(d, dtype=np.int32) for d in batch])
            yield flat, lengths

    for blocks in pack_token_batches(batches(), block_size, pad_id):
        yield from blocks


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


def _temporary(path: Path) -> Path:
    # Unique per writer: two runs packing the same corpus at once never write into each other's file, and a
    # crashed writer's leftover is never mistaken for (or appended to by) a later one.
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def sources_path(path: Path) -> Path:
    """The `.json` beside a packed file that names its sources."""
    return path.with_suffix(".json")


def write_packed_sources(sources: Iterable[tuple[str, Iterable[np.ndarray]]], path: Path) -> list[dict[str, Any]]:
    """Stream each (name, blocks) source into `path`, one after another; returns [{name, blocks, tokens}].

    Blocks are (2, block_size) or (k, 2, block_size) arrays. The `.json` naming the sources is renamed into
    place before `path`, so once `path` exists both are complete; a writer killed earlier leaves only
    temporary files, which never look like a result.
    """
    tmp, meta_tmp = _temporary(path), _temporary(sources_path(path))
    info, block_size = [], None
    try:
        with tmp.open("wb") as f:
            for name, blocks in sources:
                n = tokens = 0
                for block in blocks:
                    block = np.ascontiguousarray(block, dtype=np.int32)
                    f.write(block.tobytes())
                    n += 1 if block.ndim == 2 else len(block)
                    tokens += int((block[..., 1, :] != PAD_POSITION).sum())
                    block_size = block.shape[-1]
                info.append({"name": name, "blocks": n, "tokens": tokens})
            f.flush()
            os.fsync(f.fileno())
        meta = {"sources": info, "block_size": block_size, "checksum": sampled_sha256(tmp)}
        with meta_tmp.open("w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(meta_tmp, sources_path(path))
        os.replace(tmp, path)
    finally:  # an exception (Ctrl-C included) leaves nothing behind; only a kill -9 leaves the temporary files
        tmp.unlink(missing_ok=True)
        meta_tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:  # the renames survive a power cut only once the directory entry is on disk
        os.fsync(directory)
    finally:
        os.close(directory)
    return info


def check_packed(path: Path, block_size: int) -> str | None:
    """None if a packed file agrees with its `.json` (size, block size, block and token counts, checksum), else
    what does not."""
    try:
        meta = json.loads(sources_path(path).read_text(encoding="utf-8"))
        blocks = sum(s["blocks"] for s in meta["sources"])
        tokens = sum(s["tokens"] for s in meta["sources"])
        checksum = meta["checksum"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"its metadata {sources_path(path).name} is missing or unreadable ({type(e).__name__}: {e})"
    if meta["block_size"] not in (None, block_size):
        return f"its blocks hold {meta['block_size']} tokens, not {block_size}"
    expected = blocks * 2 * block_size * np.dtype(np.int32).itemsize
    size = path.stat().st_size
    if size != expected:
        return f"{size} bytes, where its {blocks} blocks of {block_size} tokens take {expected}"
    if not 0 <= tokens <= blocks * block_size:
        return f"its metadata counts {tokens} tokens in {blocks} blocks of {block_size}"
    if sampled_sha256(path) != checksum:
        return "its contents do not match the checksum in its metadata"
    return None


class PackedBlocks(torch.utils.data.Dataset):
    """Memory-mapped packed blocks: each item is {input_ids, position_ids, labels} of one block.

    With more than one source (`with_source`), items also carry `source`, the index of the block's source in
    `source_names`; the trainer must strip it before the forward pass (`qilin.training.source_loss.SourceLossTrainer`
    does). With one source, items are plain batches for a plain Trainer.
    """

    def __init__(self, path: Path, block_size: int):
        self.data = np.memmap(path, dtype=np.int32, mode="r").reshape(-1, 2, block_size)
        # write_packed_sources renames the sources file into place before the blocks: it is always there
        self.sources = json.loads(sources_path(path).read_text(encoding="utf-8"))["sources"]
        self.source_names = [s["name"] for s in self.sources]
        self._source_ends = np.cumsum([s["blocks"] for s in self.sources])  # sources are stored one after another
        self.with_source = len(self.sources) > 1

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids, pos, labels = labels_and_positions(np.asarray(self.data[i]))
        item = {"input_ids": ids, "position_ids": pos, "labels": labels}
        if self.with_source:
            item["source"] = torch.tensor(self.source_of(i))
        return item

    def source_of(self, i: int) -> int:
        """Index in `source_names` of block `i`'s source."""
        return int(np.searchsorted(self._source_ends, i, side="right"))

    def real_tokens(self) -> int:
        """Tokens that are not padding (counted when the blocks were written)."""
        return sum(s["tokens"] for s in self.sources)
