"""Replay: general text mixed into a domain corpus's packed blocks at a set share, against forgetting.

The share counts packed blocks (each `block_size` tokens, all full but a source's last one), so it is the share
of training tokens: with share r and D domain blocks, an epoch holds all D domain blocks and
round(D * r / (1 - r)) general blocks, drawn without repetition from the general source's blocks (a seeded
permutation, started again when more are needed than there are). The Trainer shuffles the mixed set as usual.
"""

from __future__ import annotations

import numpy as np
import torch

from qilin.data.text.packing import PAD_POSITION, PackedBlocks


def replay_count(domain_blocks: int, share: float) -> int:
    """General blocks that make up `share` of an epoch holding `domain_blocks` domain blocks."""
    if not 0 <= share < 1:
        raise ValueError(f"replay share must be in [0, 1), got {share}")
    return round(domain_blocks * share / (1 - share))


def replay_draw(available: int, count: int, seed: int) -> np.ndarray:
    """`count` indices in [0, available): seeded permutations laid end to end, so each block repeats at most once
    more than any other."""
    if count and not available:
        raise ValueError("replay asks for general blocks, but the general text packed into none")
    rng = np.random.default_rng(seed)
    rounds = -(-count // available) if count else 0
    draws = [rng.permutation(available) for _ in range(rounds)]
    return np.concatenate(draws)[:count] if draws else np.empty(0, dtype=np.int64)


class ReplayMix(torch.utils.data.Dataset):
    """Every block of the domain sources plus a `share` of blocks drawn from the replay sources (see module doc).

    Items are the packed corpus's own (with `source`), so the per-source loss shows `loss/<replay source>`.
    """

    def __init__(self, blocks: PackedBlocks, replay_sources: list[str], share: float, seed: int):
        unknown = sorted(set(replay_sources) - set(blocks.source_names))
        if unknown:
            raise ValueError(f"replay sources {unknown} are not in the packed corpus ({blocks.source_names})")
        if len(replay_sources) == len(blocks.source_names):
            raise ValueError("replay needs domain text besides the replayed general text")
        self.blocks = blocks
        self.source_names = blocks.source_names
        self.with_source = True
        starts = np.cumsum([0] + [s["blocks"] for s in blocks.sources])
        ranges = {s["name"]: np.arange(starts[i], starts[i + 1]) for i, s in enumerate(blocks.sources)}
        domain = np.concatenate([r for name, r in ranges.items() if name not in replay_sources])
        general = np.concatenate([ranges[name] for name in replay_sources])
        chosen = general[replay_draw(len(general), replay_count(len(domain), share), seed)]
        self.indices = np.concatenate([domain, chosen])
        self.domain_blocks, self.replay_blocks = len(domain), len(chosen)
        domain_tokens = sum(s["tokens"] for s in blocks.sources if s["name"] not in replay_sources)
        replay_tokens = int((np.asarray(blocks.data[np.sort(chosen), 1]) != PAD_POSITION).sum()) if len(chosen) else 0
        self._tokens = domain_tokens + replay_tokens

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.blocks[int(self.indices[i])]

    def real_tokens(self) -> int:
        """Tokens that are not padding, over one epoch of the mix."""
        return self._tokens

    def share(self) -> float:
        """The replayed share of the mix's blocks."""
        return self.replay_blocks / len(self.indices) if len(self.indices) else 0.0
