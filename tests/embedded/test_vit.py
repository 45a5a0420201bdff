"""The demo ViT's contrastive pre-training: recorded losses, the files the pipeline reads, a clean replace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import CLIPImageProcessor, CLIPVisionModel

from qilin.config import EmbeddedVisionSettings
from qilin.embedded.vit import pretrain_tiny_vit

TINY_VIT = EmbeddedVisionSettings(
    image_size=32, patch_size=8, hidden_size=32, num_layers=1, num_heads=2, pretrain_epochs=2, pretrain_lr=1e-3
)


def test_pretraining_writes_the_tower_its_processor_and_the_recorded_losses(tmp_path: Path) -> None:
    from qilin.embedded.scans import generate_scan_set

    records = generate_scan_set(70, seed=9, out_dir=tmp_path, size=32)
    out = tmp_path / "model"
    out.mkdir()
    (out / "stale.txt").write_text("from an older run")
    assert pretrain_tiny_vit(TINY_VIT, records, tmp_path, out) == out
    losses = json.loads((out / "pretrain_losses.json").read_text())
    # 2 epochs x 2 batches of 64; recorded with the code as it stood in models/vision.py before the move
    assert losses == pytest.approx([4.852, 1.7269, 4.0946, 1.7332], abs=2e-3)
    assert not (out / "stale.txt").exists() and not out.with_name("model.tmp").exists()
    tower = CLIPVisionModel.from_pretrained(out)
    assert tower.config.image_size == 32 and tower.config.num_hidden_layers == 1
    assert list(CLIPImageProcessor.from_pretrained(out).image_mean) == [0.25, 0.25, 0.25]
