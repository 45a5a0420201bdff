"""Stage 2, Supervised Fine-Tuning: conversations rendered with the chat template, loss on assistant turns.

setup -> read, validate and tokenize conversations with labels (one render each, in worker processes for large
inputs, cached in $QILIN_CACHE/sft; with stages.sft.rag, retrieved passages first put in front of a share of the
prompts, cached with them) -> pack (or group by length) -> build model -> train -> save.
"""

from __future__ import annotations

from typing import Any

from transformers import DataCollatorForSeq2Seq

from qilin.chat_templates import IGNORE_INDEX
from qilin.data.text.formats import read_file
from qilin.data.text.sft_examples import build_sft_examples
from qilin.data.text.sft_packing import PackedCollator, pack_conversations
from qilin.data.text.tokenize_corpus import default_processes
from qilin.log import get_logger
from qilin.models.loading import load_tokenizer, packs_by_position_ids
from qilin.rag.index import load_index
from qilin.rag.training import PassagePrompts
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

log = get_logger(__name__)


def run(ctx: StageContext) -> dict[str, Any]:
    """Run SFT from `ctx.model_path` on `ctx.data`; the output model lands in `ctx.output`."""
    cfg = ctx.config
    cfg = with_checkpointing_decided(cfg, ctx.model_path, ctx.model, cfg.max_length * cfg.batch_size)
    if cfg.tokenize_processes < 0:
        raise ValueError(f"stages.sft.tokenize_processes: must be >= 0, got {cfg.tokenize_processes}")
    tokenizer = load_tokenizer(ctx.model_path, ctx.model)
    processes = cfg.tokenize_processes or default_processes()
    passages = _passage_prompts(ctx)
    examples, dropped = build_sft_examples(
        ctx.data, tokenizer, cfg.max_length, ctx.data_hashes, processes, transform=passages
    )
    if dropped:
        log.info(f"dropped {dropped} conversations whose assistant turns start beyond max_length={cfg.max_length}")
    model = build_model(ctx.model_path, ctx.model, cfg)
    stage_keys = {}
    if cfg.packing:
        if not packs_by_position_ids(model):
            raise ValueError(
                f"stages.sft.packing: {type(model).__name__} brings its own attention code, which ignores the "
                "position ids that keep packed conversations apart; set stages.sft.packing: false"
            )
        dataset = pack_conversations(examples, cfg.max_length)
        collator = PackedCollator(tokenizer.pad_token_id)
        log.info(f"packed {len(examples)} conversations into {len(dataset)} rows of at most {cfg.max_length} tokens")
    else:
        dataset = examples
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
        if cfg.group_by_length:
            stage_keys["train_sampling_strategy"] = "group_by_length"
    stage_keys.update(fit_rows_to_memory(cfg, model, dataset, collator))
    args = stage_arguments(cfg, ctx.stage_dir, ctx.model, **stage_keys)
    trainer = build_trainer(ctx.stage_dir, model, dataset, args, data_collator=collator)
    metrics = train(trainer, ctx.stage_dir)
    tokens = sum(len(e["input_ids"]) for e in examples)
    metrics.update(examples=len(examples), dropped=dropped, rows=len(dataset), tokens=tokens)
    metrics["tokens_per_second"] = real_tokens_per_second(metrics, tokens, cfg)
    if passages is not None:  # the report says which share of SFT saw passages
        stats = passages.stats
        metrics.update(
            rag_share=round(100 * stats["share_with_passages"], 1),
            rag_gold=stats["gold"],
            rag_reading=stats.get("reading", 0),
            rag_distractors_only=stats["distractors_only"],
            rag_evaluation_passages_dropped=stats["evaluation_passages_dropped"],
        )
    save_stage_output(
        trainer, tokenizer, cfg, ctx.model_path, ctx.model, ctx.stage_dir, feeds_next_stage=ctx.feeds_next_stage
    )
    return metrics


def _passage_prompts(ctx: StageContext) -> PassagePrompts | None:
    """Retrieval-aware SFT (stages.sft.rag), or None when its share is 0."""
    rag = ctx.config.rag
    if rag.share <= 0 and not rag.reading:
        return None
    if ctx.rag_index is None:
        raise ValueError(
            "stages.sft.rag (share > 0 or reading) needs the index to retrieve from (stages.sft.rag.corpus or eval.rag)"
        )
    retriever = load_index(ctx.rag_index)
    # reading practice is recognised by its first question: those conversations always get the gold passage
    reading = frozenset(
        next(m["content"] for m in c if m["role"] == "user")
        for path in ctx.reading_data
        for c in read_file(path, "sft")
    )
    items = list(ctx.evaluation_items)
    return PassagePrompts(retriever, rag.share, rag.gold_share, rag.top_k, items, rag.seed, reading=reading)
