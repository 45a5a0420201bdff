"""VL stage 1, feature alignment: image-caption pairs; only the projector trains.

setup -> build the VL model (frozen vision tower + fresh projector + frozen LLM) -> data -> train -> save.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import Trainer, TrainingArguments

from qilin.config import ModelSettings, VisionSettings, VLAlignSettings
from qilin.data.vision.vl_data import build_vl_dataset, collate_vl
from qilin.distributed import is_main_process
from qilin.models.vision import prepare_vl_model, save_vl_model
from qilin.training.trainer import tensorboard_callback, train, training_arguments


def run(
    cfg: VLAlignSettings,
    data: list[Path],
    fingerprints: list[str],
    model_path: Path,
    model_settings: ModelSettings,
    stage_dir: Path,
    vision_dir: Path,
    vision: VisionSettings,
) -> dict[str, Any]:
    """Align the projector; the output VL model lands in `stage_dir/model`."""
    model, tokenizer, processor = prepare_vl_model(model_path, vision_dir, vision, model_settings)
    model.requires_grad_(False)
    model.projector.requires_grad_(True)  # the LLM and the vision tower stay exactly as they were
    dataset, skipped = build_vl_dataset(
        data, cfg.format, cfg.images, cfg.skip_bad_images, model, tokenizer, processor, cfg.max_length
    )
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**training_arguments(cfg, stage_dir, model_settings)),
        train_dataset=dataset,
        data_collator=collate_vl(tokenizer.pad_token_id),
        callbacks=[tensorboard_callback(stage_dir)],
    )
    metrics = train(trainer, stage_dir)
    metrics.update(examples=len(dataset), dropped=dataset.dropped, bad_images=skipped)
    if is_main_process():  # DDP only (every process holds the whole model); FSDP is for the text stages
        save_vl_model(model, tokenizer, processor, stage_dir / "model")
    return metrics
