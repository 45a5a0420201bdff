"""Stage 1, Domain-specific Continued Pre-training (DCPT): next-token loss on packed medical text.

setup -> tokenize and pack the corpus (streamed, cached on disk) -> build model -> train -> save.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm
from transformers import Trainer, TrainingArguments, default_data_collator

from qilin.config import CptSettings, ModelSettings
from qilin.data.formats import check_file, iter_file
from qilin.data.packing import PackedBlocks, pack_documents, write_blocks
from qilin.models.loading import load_tokenizer
from qilin.training import build_model, save_stage_output, tensorboard_callback, train, training_arguments

_TOKENIZE_BATCH = 512


def tokenized_documents(paths: list[Path], tokenizer: Any) -> Iterator[list[int]]:
    """Each document's token ids followed by EOS, streamed in batches (the corpus never sits in memory)."""
    eos = tokenizer.eos_token_id
    for path in paths:
        batch: list[str] = []
        for doc in tqdm(iter_file(path, "cpt"), desc=f"tokenizing {path.name}", unit=" docs", mininterval=2):
            batch.append(doc)
            if len(batch) == _TOKENIZE_BATCH:
                yield from ([*ids, eos] for ids in tokenizer(batch)["input_ids"])
                batch = []
        if batch:
            yield from ([*ids, eos] for ids in tokenizer(batch)["input_ids"])


def blocks_cache_key(paths: list[Path], fingerprints: list[str], tokenizer: Any, block_size: int) -> str:
    """Key of a packed corpus: the data's content, the tokenizer's vocabulary and the block size."""
    h = hashlib.sha256()
    h.update(json.dumps(fingerprints).encode())
    h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(f"{block_size}|{tokenizer.eos_token_id}".encode())
    return h.hexdigest()[:16]


def build_packed_corpus(
    paths: list[Path], fingerprints: list[str], tokenizer: Any, block_size: int, cache_dir: Path
) -> PackedBlocks:
    """Packed blocks of the corpus, from the on-disk cache when the same data was packed before."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    blocks_path = cache_dir / f"blocks-{blocks_cache_key(paths, fingerprints, tokenizer, block_size)}.bin"
    if not blocks_path.exists():
        for path in paths:  # refuse bad data before hours of tokenizing, naming every bad record's count
            check_file(path, "cpt").raise_if_bad()
        docs = tokenized_documents(paths, tokenizer)
        n = write_blocks(pack_documents(docs, block_size, tokenizer.pad_token_id), blocks_path)
        print(f"packed {n} blocks of {block_size} tokens into {blocks_path}")
    return PackedBlocks(blocks_path, block_size)


def run(
    cfg: CptSettings,
    data: list[Path],
    fingerprints: list[str],
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
) -> dict[str, Any]:
    """Run DCPT from `model_path` on `data`; the output model lands in `stage_dir/model`."""
    tokenizer = load_tokenizer(model_path, model_settings)
    dataset = build_packed_corpus(data, fingerprints, tokenizer, cfg.block_size, stage_dir / "data")
    model = build_model(model_path, model_settings, cfg)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**training_arguments(cfg, stage_dir, model_settings)),
        train_dataset=dataset,
        data_collator=default_data_collator,
        callbacks=[tensorboard_callback(stage_dir)],
    )
    metrics = train(trainer, stage_dir)
    metrics.update(blocks=len(dataset), tokens=dataset.real_tokens())
    save_stage_output(trainer.model, tokenizer, cfg, stage_dir)
    return metrics
