"""Stage 1, Domain-specific Continued Pre-training (DCPT): next-token loss on packed medical text.

    qilin train cpt --model BASE --data medical.txt general.txt kg.jsonl --output runs/cpt   (or a recipe's stages.cpt)

setup -> tokenize and pack the corpus (parallel, streamed, cached in $QILIN_CACHE/cpt) -> build model -> train
-> save. Each data file is a source named by its file stem; with several sources each block holds one source only
and the log gets each source's own loss (`loss/<source>`) beside the overall one.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from accelerate import PartialState
from transformers import Trainer, default_data_collator

from qilin.config import CptSettings
from qilin.data.text.formats import check_file, iter_file
from qilin.data.text.packed_cache import build_once, cache_dir, tokenizer_fingerprint, wait_for_file
from qilin.data.text.packing import PackedBlocks, check_packed, pack_token_batches, write_packed_sources
from qilin.data.text.replay import ReplayMix
from qilin.data.text.tokenize_corpus import CorpusTokenizer, default_processes
from qilin.distributed import init_processes
from qilin.log import get_logger
from qilin.models.loading import load_tokenizer, packs_by_position_ids
from qilin.stages.protocol import StageContext
from qilin.training import (
    build_model,
    build_trainer,
    real_tokens_per_second,
    save_stage_output,
    stage_arguments,
    train,
)
from qilin.training.memory import fit_rows_to_memory, with_checkpointing_decided
from qilin.training.source_loss import SourceLossTrainer

log = get_logger(__name__)

# Bump when the packed bytes change for the same inputs (packing rules, file layout), so old caches are not reused.
# 3: the `.json` holds the block size and a checksum, checked before every use.
PACK_VERSION = 3


def corpus_sources(paths: list[Path]) -> list[tuple[str, list[Path]]]:
    """(source name, files) in order of first appearance; a source is a file stem, so a.txt and x/a.jsonl are one."""
    sources: dict[str, list[Path]] = {}
    for path in paths:
        sources.setdefault(path.stem, []).append(path)
    return list(sources.items())


def blocks_cache_key(paths: list[Path], fingerprints: list[str], tokenizer: Any, block_size: int) -> str:
    """Key of a packed corpus: each file's source name and content, the tokenizer, the block size, PACK_VERSION."""
    h = hashlib.sha256()
    h.update(json.dumps([[p.stem, f] for p, f in zip(paths, fingerprints, strict=True)]).encode())
    h.update(tokenizer_fingerprint(tokenizer).encode())
    h.update(f"{block_size}|{PACK_VERSION}".encode())
    return h.hexdigest()[:16]


def _pack_corpus(paths: list[Path], tokenizer: Any, block_size: int, processes: int, out: Path) -> None:
    for path in paths:  # refuse bad data before hours of tokenizing, naming every bad record's count
        check_file(path, "cpt").raise_if_bad()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with CorpusTokenizer(tokenizer, processes) as tokenize:

        def source_blocks(name: str, files: list[Path]) -> Iterator[np.ndarray]:
            docs = (doc for path in files for doc in iter_file(path, "cpt"))
            return pack_token_batches(tokenize(docs, desc=f"tokenizing {name}"), block_size, pad_id)

        sources = ((name, source_blocks(name, files)) for name, files in corpus_sources(paths))
        info = write_packed_sources(sources, out)
    summary = ", ".join(f"{s['name']}: {s['blocks']} blocks, {s['tokens']} tokens" for s in info)
    log.info(f"packed into {out} ({block_size} tokens per block, {processes} tokenizing processes): {summary}")


def build_packed_corpus(
    paths: list[Path],
    fingerprints: list[str],
    tokenizer: Any,
    block_size: int,
    cache: Path | None = None,
    processes: int = 1,
) -> PackedBlocks:
    """Packed blocks of the corpus (one source per file stem), from the cache (default $QILIN_CACHE/cpt) if packed.

    A cached file is checked against its metadata first (`check_packed`); a damaged one is packed again.

    In a launched run only each machine's main process packs (the cache may be on a disk of its own); the others
    poll for the finished file rather than wait at a barrier, which the process group's timeout (30 minutes by
    default) would end while a large corpus is still tokenizing. If the main process dies, the launcher stops them.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A tokenizing worker is importing the user's script because it has no `if __name__ == "__main__":`; going
        # on, it would wait forever for the cache lock its parent holds. Failing here lets the parent say why.
        raise RuntimeError("qilin CPT was started again inside a tokenizing worker (script without a main guard)")
    cache = cache or cache_dir("cpt")
    path = cache / f"blocks-{blocks_cache_key(paths, fingerprints, tokenizer, block_size)}.bin"
    check = partial(check_packed, block_size=block_size)
    if PartialState().is_local_main_process:
        build_once(path, lambda: _pack_corpus(paths, tokenizer, block_size, processes, path), check)
    else:
        wait_for_file(path, "the packed corpus", check)
    return PackedBlocks(path, block_size)


def replay_files(data: list[Path], cfg: CptSettings) -> list[Path]:
    """The replayed general files: the last len(replay_data) of the stage's data (the pipeline appends them)."""
    return data[len(data) - len(cfg.replay_data) :] if cfg.replay else []


def _with_replay(dataset: PackedBlocks, data: list[Path], cfg: CptSettings) -> ReplayMix:
    replayed = replay_files(data, cfg)
    general = list(dict.fromkeys(p.stem for p in replayed))
    clash = set(general) & {p.stem for p in data[: len(data) - len(replayed)]}
    if clash:  # one file stem is one source: the replay share could not be told from the domain text
        raise ValueError(f"stages.cpt.replay_data: {sorted(clash)} also name domain data files; rename one")
    mix = ReplayMix(dataset, general, cfg.replay, cfg.seed)
    log.info(
        f"replay: {mix.replay_blocks} general blocks ({', '.join(general)}) beside {mix.domain_blocks} domain "
        f"blocks per epoch ({100 * mix.share():.1f}% of blocks)"
    )
    return mix


def run(ctx: StageContext) -> dict[str, Any]:
    """Run DCPT from `ctx.model_path` on `ctx.data`; the output model lands in `ctx.output`."""
    cfg = ctx.config
    cfg = with_checkpointing_decided(cfg, ctx.model_path, ctx.model, cfg.block_size * cfg.batch_size)
    if cfg.tokenize_processes < 0:
        raise ValueError(f"stages.cpt.tokenize_processes: must be >= 0, got {cfg.tokenize_processes}")
    tokenizer = load_tokenizer(ctx.model_path, ctx.model)
    init_processes()  # join the launched processes first: packing tells the main one when the cache is built
    processes = cfg.tokenize_processes or default_processes()
    dataset = build_packed_corpus(ctx.data, ctx.data_hashes, tokenizer, cfg.block_size, processes=processes)
    if cfg.replay:
        dataset = _with_replay(dataset, ctx.data, cfg)
    model = build_model(ctx.model_path, ctx.model, cfg)
    if not packs_by_position_ids(model):  # training still works, as GPT-style packing without document masks
        log.info(
            f"note: {type(model).__name__} builds its own attention mask and ignores position ids, so documents "
            "packed into one block attend to the ones before them"
        )
    if dataset.with_source:
        trainer_class, extra = SourceLossTrainer, {"source_names": dataset.source_names}
    else:
        trainer_class, extra = Trainer, {}
    args = stage_arguments(
        cfg, ctx.stage_dir, ctx.model, **fit_rows_to_memory(cfg, model, dataset, default_data_collator)
    )
    trainer = build_trainer(
        ctx.stage_dir, model, dataset, args, trainer_class=trainer_class, data_collator=default_data_collator, **extra
    )
    metrics = train(trainer, ctx.stage_dir)
    metrics.update(blocks=len(dataset), tokens=dataset.real_tokens())
    metrics["tokens_per_second"] = real_tokens_per_second(metrics, metrics["tokens"], cfg)
    if cfg.replay:
        metrics["replay_share"] = round(dataset.share(), 4)
    if dataset.with_source:
        metrics["source_loss"] = {name: round(v, 4) for name, v in trainer.last_source_loss.items()}
    save_stage_output(
        trainer, tokenizer, cfg, ctx.model_path, ctx.model, ctx.stage_dir, feeds_next_stage=ctx.feeds_next_stage
    )
    return metrics
