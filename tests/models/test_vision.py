"""The VL loader shared by chat, serving and evaluation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from qilin.chat_templates import IMAGE_TOKEN
from qilin.models.vision import load_vl_model
from qilin.models.vl import QilinVLForConditionalGeneration


def test_load_vl_model_gives_an_eval_model_its_tokenizer_and_processor(tiny_vl_dir: Path) -> None:
    model, tokenizer, processor = load_vl_model(tiny_vl_dir)
    assert isinstance(model, QilinVLForConditionalGeneration) and not model.training
    assert tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == model.config.image_token_index
    assert processor(images=Image.new("RGB", (40, 30)), return_tensors="pt")["pixel_values"].shape == (1, 3, 32, 32)
    assert tokenizer.pad_token is not None and tokenizer.chat_template


def test_safetensors_only_refuses_pickled_weights(tiny_vl_dir: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_vl_dir, pickled)
    for weights in pickled.glob("*.safetensors"):
        weights.unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")  # a pickle header, never opened
    with pytest.raises(OSError, match="safetensors"):
        load_vl_model(pickled, safetensors_only=True)
