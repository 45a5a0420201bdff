"""Sentence vectors from a local Hugging Face encoder, for dense retrieval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from qilin.data.records import DataError


class Embedder:
    """A local encoder (AutoTokenizer + AutoModel): mean of the last hidden states over real tokens, L2-normalised."""

    def __init__(self, model_dir: Path, batch_size: int = 32):
        if not (Path(model_dir) / "config.json").is_file():
            raise DataError(model_dir, "", "not a local Hugging Face model directory (no config.json)")
        from transformers import AutoModel, AutoTokenizer

        # local_files_only: an index must never fetch a model; the directory is the model.
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
        # model_max_length is a huge sentinel for tokenizers saved without one; positions are the real limit.
        positions = getattr(self.model.config, "max_position_embeddings", 512)
        self.max_length = min(self.tokenizer.model_max_length, positions)
        self.batch_size = batch_size

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """(N, H) float32 unit vectors of `texts`."""
        import torch

        vectors = []
        starts = range(0, len(texts), self.batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc="embedding passages", unit=" batches", disable=not progress):
                batch = self.tokenizer(
                    texts[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state.float()  # (B, T, H)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # (B, H)
                vectors.append(torch.nn.functional.normalize(mean, dim=-1).numpy())
        return np.concatenate(vectors)
