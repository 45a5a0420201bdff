"""VL stage 2, instruction tuning: image-question-answer conversations; the projector and the LLM train.

setup -> load the aligned VL model (or build one) -> LoRA or full on the LLM -> data -> train -> save.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft import LoraConfig, get_peft_model
from transformers import Trainer, TrainingArguments

from qilin.config import ModelSettings, VisionSettings, VLInstructSettings
from qilin.data.vision.vl_data import PackedVLDataset, build_vl_dataset, collate_packed_vl, collate_vl
from qilin.distributed import is_main_process
from qilin.models.lora import merge_adapter
from qilin.models.vision import prepare_vl_model, save_vl_model
from qilin.training.trainer import tensorboard_callback, train, training_arguments


def language_model_linear_layers(model: Any) -> list[str]:
    """Names of the LLM's linear layers (LoRA targets): never the vision tower, projector or output head."""
    import torch

    return [
        name
        for name, module in model.named_modules()
        if name.startswith("language_model.") and isinstance(module, torch.nn.Linear) and not name.endswith("lm_head")
    ]


def run(
    cfg: VLInstructSettings,
    data: list[Path],
    fingerprints: list[str],
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
    vision_dir: Path,
    vision: VisionSettings,
) -> dict[str, Any]:
    """Instruction-tune the projector and the LLM; the output VL model lands in `stage_dir/model`."""
    model, tokenizer, processor = prepare_vl_model(model_path, vision_dir, vision, model_settings)
    model.requires_grad_(True)
    model.vision_tower.requires_grad_(False)  # frozen in every stage, as in the paper
    dataset, skipped = build_vl_dataset(
        data, cfg.format, cfg.images, cfg.skip_bad_images, model, tokenizer, processor, cfg.max_length
    )
    if cfg.finetune == "lora":
        lora = LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=language_model_linear_layers(model)
            if cfg.lora.target_modules == "all-linear"
            else cfg.lora.target_modules,
            modules_to_save=["projector"],  # the projector trains fully beside the LLM's adapters
        )
        model = get_peft_model(model, lora)
    examples = len(dataset)
    collator = collate_vl(tokenizer.pad_token_id)
    if cfg.packing:
        dataset, collator = PackedVLDataset(dataset, cfg.max_length), collate_packed_vl(tokenizer.pad_token_id)
        print(f"packed {examples} image conversations into {len(dataset)} rows of at most {cfg.max_length} tokens")
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**training_arguments(cfg, stage_dir, model_settings)),
        train_dataset=dataset,
        data_collator=collator,
        callbacks=[tensorboard_callback(stage_dir)],
    )
    metrics = train(trainer, stage_dir)
    dropped = dataset.dataset.dropped if cfg.packing else dataset.dropped
    metrics.update(examples=examples, rows=len(dataset), dropped=dropped, bad_images=skipped)
    if is_main_process():  # DDP only (every process holds the whole model); FSDP is for the text stages
        merged = (
            merge_adapter(trainer.model, stage_dir / "adapter", tokenizer) if cfg.finetune == "lora" else trainer.model
        )
        save_vl_model(merged, tokenizer, processor, stage_dir / "model")
    return metrics
