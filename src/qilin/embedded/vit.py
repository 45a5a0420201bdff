"""Pre-training the demo's tiny ViT: contrastive (CLIP) training on synthetic scans and their captions.

The demo's "pre-trained" vision tower is made honestly: a tiny CLIP (ViT image tower + small text tower) is
trained contrastively on synthetic scans and their captions, disjoint from the VL data, and only its image tower
is kept, then frozen, as the paper freezes its ViT.

    pretrain_tiny_vit(recipe.embedded_vision, records, image_dir, run_dir / "vision" / "model")
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

from qilin.config import EmbeddedVisionSettings
from qilin.data.vision.images import load_image
from qilin.durable import replace_dir_atomic
from qilin.embedded.model import train_tokenizer

# Synthetic scans are grayscale with a mid-grey mean; statistics of the generator, not of ImageNet.
SCAN_MEAN, SCAN_STD = [0.25, 0.25, 0.25], [0.25, 0.25, 0.25]
# Captions per contrastive batch: every other caption of the batch is a negative for each image.
BATCH_SIZE = 64


def pretrain_tiny_vit(settings: EmbeddedVisionSettings, records: list[dict], image_dir: Path, out_dir: Path) -> Path:
    """Contrastive (CLIP) pre-training of a tiny ViT on scans + captions; saves the image tower and processor.

    `records` hold an `image` (relative to `image_dir`) and a `caption` each; `out_dir` receives the vision tower,
    its image processor and `pretrain_losses.json` (one loss per step), replaced whole once training is done.
    """
    torch.manual_seed(settings.seed)
    captions = [r["caption"] for r in records]
    tokenizer = train_tokenizer(captions, vocab_size=800)
    processor = CLIPImageProcessor(
        size={"shortest_edge": settings.image_size},
        crop_size={"height": settings.image_size, "width": settings.image_size},
        image_mean=SCAN_MEAN,
        image_std=SCAN_STD,
    )
    model = CLIPModel(_clip_config(settings, tokenizer))
    pixels = torch.cat(
        [processor(images=load_image(image_dir / r["image"]), return_tensors="pt")["pixel_values"] for r in records]
    )  # (N, 3, S, S)
    texts = [tokenizer(c + tokenizer.eos_token)["input_ids"][:95] for c in captions]  # 96 text positions
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.pretrain_lr, weight_decay=0.01)
    steps = settings.pretrain_epochs * ((len(records) + BATCH_SIZE - 1) // BATCH_SIZE)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.pretrain_lr, total_steps=steps, pct_start=0.1)
    order = list(range(len(records)))
    rng = random.Random(settings.seed)
    losses = []
    model.train()
    with tqdm(total=steps, desc="pre-training the demo ViT (CLIP)") as bar:
        for _ in range(settings.pretrain_epochs):
            rng.shuffle(order)
            for start in range(0, len(order), BATCH_SIZE):
                idx = order[start : start + BATCH_SIZE]
                width = max(len(texts[i]) for i in idx)
                ids = torch.full((len(idx), width), tokenizer.pad_token_id)  # (B, T), right-padded
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
    _save_tower(model.vision_model, processor, losses, out_dir)
    return out_dir


def _clip_config(settings: EmbeddedVisionSettings, tokenizer: Any) -> CLIPConfig:
    """A tiny CLIP: the ViT the recipe asks for, and a 2-layer text tower just large enough for the captions."""
    return CLIPConfig(
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


def _save_tower(vision: torch.nn.Module, processor: CLIPImageProcessor, losses: list[float], out_dir: Path) -> None:
    """Write the image tower (a CLIPVisionModel in transformers 5) under a temporary name, then rename it into place,
    so a killed save never leaves a half-written `out_dir` for the pipeline to mistake for a finished one."""

    def fill(tmp: Path) -> None:
        vision.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "pretrain_losses.json").write_text(json.dumps(losses))

    replace_dir_atomic(out_dir, fill)
