"""Vision towers: loading a user's encoder, pre-training the demo's tiny ViT, and assembling the VL model.

The demo's "pre-trained" vision tower is made honestly: a tiny CLIP (ViT image tower + small text tower) is
trained contrastively on synthetic scans and their captions, disjoint from the VL data, and only its
image tower is kept, then frozen, as the paper freezes its ViT.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForCausalLM,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPVisionModel,
    SiglipVisionModel,
)

from qilin.chat_templates import IMAGE_TOKEN
from qilin.config import EmbeddedVisionSettings, ModelSettings, VisionSettings
from qilin.models.loading import check_model_dir, load_tokenizer, resolve_dtype, save_pretrained_atomic
from qilin.models.vl import QilinVLForConditionalGeneration

# Synthetic scans are grayscale with a mid-grey mean; statistics of the generator, not of ImageNet.
SCAN_MEAN, SCAN_STD = [0.25, 0.25, 0.25], [0.25, 0.25, 0.25]


def load_vision_tower(path: str | Path) -> tuple[Any, Any]:
    """(vision encoder, image processor) from a CLIP/SigLIP (full or vision-only) or ViT directory."""
    path = check_model_dir(path)
    model_type = AutoConfig.from_pretrained(path).model_type
    if model_type in ("clip", "clip_vision_model"):
        model = CLIPVisionModel.from_pretrained(path)
    elif model_type in ("siglip", "siglip_vision_model"):
        model = SiglipVisionModel.from_pretrained(path)
    else:
        model = AutoModel.from_pretrained(path)
    return model.eval(), AutoImageProcessor.from_pretrained(path)


def pretrain_tiny_vit(settings: EmbeddedVisionSettings, records: list[dict], image_dir: Path, out_dir: Path) -> Path:
    """Contrastive (CLIP) pre-training of a tiny ViT on scans + captions; saves the image tower and processor."""
    from tqdm import tqdm

    from qilin.data.vision.images import load_image
    from qilin.models.embedded import train_tokenizer

    torch.manual_seed(settings.seed)
    captions = [r["caption"] for r in records]
    tokenizer = train_tokenizer(captions, vocab_size=800)
    processor = CLIPImageProcessor(
        size={"shortest_edge": settings.image_size},
        crop_size={"height": settings.image_size, "width": settings.image_size},
        image_mean=SCAN_MEAN,
        image_std=SCAN_STD,
    )
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 96,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
        },
        vision_config={
            "image_size": settings.image_size,
            "patch_size": settings.patch_size,
            "hidden_size": settings.hidden_size,
            "intermediate_size": settings.hidden_size * 2,
            "num_hidden_layers": settings.num_layers,
            "num_attention_heads": settings.num_heads,
        },
        projection_dim=64,
    )
    model = CLIPModel(config)
    pixels = torch.cat(
        [processor(images=load_image(image_dir / r["image"]), return_tensors="pt")["pixel_values"] for r in records]
    )
    texts = [tokenizer(c + tokenizer.eos_token)["input_ids"][:95] for c in captions]
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.pretrain_lr, weight_decay=0.01)
    batch = 64
    steps = settings.pretrain_epochs * ((len(records) + batch - 1) // batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.pretrain_lr, total_steps=steps, pct_start=0.1)
    order = list(range(len(records)))
    rng = random.Random(settings.seed)
    losses = []
    model.train()
    with tqdm(total=steps, desc="pre-training the demo ViT (CLIP)") as bar:
        for _ in range(settings.pretrain_epochs):
            rng.shuffle(order)
            for start in range(0, len(order), batch):
                idx = order[start : start + batch]
                width = max(len(texts[i]) for i in idx)
                ids = torch.full((len(idx), width), tokenizer.pad_token_id)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    ids[row, : len(texts[i])] = torch.tensor(texts[i])
                    mask[row, : len(texts[i])] = 1
                loss = model(input_ids=ids, attention_mask=mask, pixel_values=pixels[idx], return_loss=True).loss
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                losses.append(round(loss.item(), 4))
                bar.update(1)
                bar.set_postfix(loss=losses[-1])
    vision = model.vision_model  # a CLIPVisionModel in transformers 5: the image tower alone
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    vision.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "pretrain_losses.json").write_text(json.dumps(losses))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def prepare_vl_model(
    model_path: Path, vision_dir: Path, vision: VisionSettings, model_settings: ModelSettings
) -> tuple[QilinVLForConditionalGeneration, Any, Any]:
    """(VL model, tokenizer, image processor): loaded if `model_path` is a VL model, else built from the LLM
    at `model_path` and the vision tower at `vision_dir` with a fresh projector."""
    tokenizer = load_tokenizer(model_path, model_settings)
    if (
        AutoConfig.from_pretrained(model_path, trust_remote_code=model_settings.trust_remote_code).model_type
        == "qilin_vl"
    ):
        model = QilinVLForConditionalGeneration.from_pretrained(model_path, dtype=resolve_dtype(model_settings.dtype))
        return model, tokenizer, AutoImageProcessor.from_pretrained(model_path)
    vision_model, processor = load_vision_tower(vision_dir)
    llm = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=resolve_dtype(model_settings.dtype), trust_remote_code=model_settings.trust_remote_code
    )
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
        llm.resize_token_embeddings(len(tokenizer))
    image_token = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    model = QilinVLForConditionalGeneration.from_parts(
        vision_model, llm, vision.projector, image_token, vision.feature_layer
    )
    model.config.use_cache = False
    return model, tokenizer, processor


def save_vl_model(model: Any, tokenizer: Any, processor: Any, out_dir: Path) -> None:
    """A VL model directory: weights, config, tokenizer and image processor, written atomically."""
    save_pretrained_atomic(model, tokenizer, out_dir, processor)


def load_vl_model(
    model_dir: str | Path, model_settings: ModelSettings | None = None, safetensors_only: bool = False
) -> tuple[Any, Any, Any]:
    """(model in eval mode, tokenizer, image processor) of a saved Qilin-Med-VL directory: the one VL loader that
    chat, serving and evaluation share.

    `safetensors_only` refuses pickled weights, as `qilin.models.loading.load_model` does for the server.
    """
    settings = model_settings or ModelSettings(path=str(model_dir))
    model = QilinVLForConditionalGeneration.from_pretrained(
        model_dir, **({"use_safetensors": True} if safetensors_only else {})
    ).eval()
    return model, load_tokenizer(model_dir, settings), AutoImageProcessor.from_pretrained(model_dir)
