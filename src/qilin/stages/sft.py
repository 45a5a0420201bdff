"""Stage 2, Supervised Fine-Tuning: conversations rendered with the chat template, loss on assistant turns.

setup -> read and validate conversations -> tokenize with labels -> pack (or group by length) -> build model
-> train -> save.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

from qilin.chat_templates import IGNORE_INDEX, tokenize_conversation
from qilin.config import ModelSettings, SftSettings
from qilin.data.text.formats import read_file
from qilin.data.text.sft_packing import PackedCollator, pack_conversations, packs_by_position_ids
from qilin.models.loading import load_tokenizer
from qilin.training.trainer import (
    build_model,
    real_tokens_per_second,
    save_trained_model,
    tensorboard_callback,
    train,
    training_arguments,
)


def build_sft_examples(paths: list[Path], tokenizer: Any, max_length: int) -> tuple[list[dict], int]:
    """Tokenized examples with assistant-only labels, and how many were dropped (no label left after truncation)."""
    examples, dropped = [], 0
    for path in paths:
        for messages in read_file(path, "sft"):
            ids, labels = tokenize_conversation(tokenizer, messages, max_length)
            if all(label == IGNORE_INDEX for label in labels):
                dropped += 1
                continue
            examples.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return examples, dropped


def run(
    cfg: SftSettings,
    data: list[Path],
    fingerprints: list[str],
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
) -> dict[str, Any]:
    """Run SFT from `model_path` on `data`; the output model lands in `stage_dir/model`."""
    tokenizer = load_tokenizer(model_path, model_settings)
    examples, dropped = build_sft_examples(data, tokenizer, cfg.max_length)
    if dropped:
        print(f"dropped {dropped} conversations whose assistant turns start beyond max_length={cfg.max_length}")
    model = build_model(model_path, model_settings, cfg)
    args = training_arguments(cfg, stage_dir, model_settings)
    if cfg.packing:
        if not packs_by_position_ids(model):
            raise ValueError(
                f"stages.sft.packing: {type(model).__name__} brings its own attention code, which ignores the "
                "position ids that keep packed conversations apart; set stages.sft.packing: false"
            )
        dataset = pack_conversations(examples, cfg.max_length)
        collator = PackedCollator(tokenizer.pad_token_id)
        print(f"packed {len(examples)} conversations into {len(dataset)} rows of at most {cfg.max_length} tokens")
    else:
        dataset = examples
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
        if cfg.group_by_length:
            args["train_sampling_strategy"] = "group_by_length"
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**args),
        train_dataset=dataset,
        data_collator=collator,
        callbacks=[tensorboard_callback(stage_dir)],
    )
    metrics = train(trainer, stage_dir)
    tokens = sum(len(e["input_ids"]) for e in examples)
    metrics.update(examples=len(examples), dropped=dropped, rows=len(dataset), tokens=tokens)
    metrics["tokens_per_second"] = real_tokens_per_second(metrics, tokens, cfg)
    save_trained_model(trainer, tokenizer, cfg, model_path, model_settings, stage_dir)
    return metrics
