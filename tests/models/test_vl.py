"""The Qilin-Med-VL model exports to transformers' LLaVA layout with the same logits, or refuses clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlavaForConditionalGeneration

from qilin.config import ModelSettings, VisionSettings
from qilin.models.vl import export_llava


def test_llava_export_gives_the_same_logits(tiny_model_dir: Path, vision_dir: Path, tmp_path: Path) -> None:
    from qilin.models.vision import prepare_vl_model

    model, tokenizer, processor = prepare_vl_model(
        tiny_model_dir, vision_dir, VisionSettings(projector="mlp", feature_layer=-2), ModelSettings()
    )
    model.eval()
    export_llava(model, processor, tokenizer, tmp_path / "llava")
    llava = LlavaForConditionalGeneration.from_pretrained(tmp_path / "llava").eval()
    n = model.num_image_tokens
    ids = torch.tensor([[5, 6, *[model.config.image_token_index] * n, 7, 8]])
    pixels = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=ids, pixel_values=pixels).logits, llava(input_ids=ids, pixel_values=pixels).logits
        )
    with pytest.raises(ValueError, match="only the 'mlp' projector"):
        model.config.projector = "linear"
        export_llava(model, processor, tokenizer, tmp_path / "x")


def test_export_llava_from_the_command_line_refuses_a_linear_projector(
    tiny_vl_dir: Path, tmp_path: Path, capsys
) -> None:
    from qilin.cli import main

    # the tiny VL model has the paper's linear projector, which has no LLaVA equivalent: a clear refusal
    assert main(["export", "llava", str(tiny_vl_dir), str(tmp_path / "llava")]) == 2
    assert "only the 'mlp' projector" in capsys.readouterr().err
    assert not (tmp_path / "llava").exists() and not (tmp_path / "llava.tmp").exists()
