"""Vision towers and the VL model around them: loading a user's encoder, assembling a VL model from an LLM and a
tower, saving it, and loading a saved one for chat, serving and evaluation.

The demo's own tower is pre-trained in `qilin.embedded.vit`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForCausalLM,
    CLIPVisionModel,
    SiglipVisionModel,
)

from qilin.chat_templates import IMAGE_TOKEN
from qilin.config import ModelSettings, VisionSettings
from qilin.models.loading import check_model_dir, load_tokenizer, resolve_dtype
from qilin.models.vl import QilinVLForConditionalGeneration


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


def prepare_vl_model(
    model_path: Path,
    vision_dir: Path,
    vision: VisionSettings,
    model_settings: ModelSettings,
    dtype: torch.dtype | None = None,
) -> tuple[QilinVLForConditionalGeneration, Any, Any]:
    """(VL model, tokenizer, image processor) in `dtype` (default `model.dtype`): loaded if `model_path` is a VL
    model, else built from the LLM at `model_path` and the vision tower at `vision_dir` with a fresh projector."""
    dtype = dtype or resolve_dtype(model_settings.dtype)
    tokenizer = load_tokenizer(model_path, model_settings)
    if (
        AutoConfig.from_pretrained(model_path, trust_remote_code=model_settings.trust_remote_code).model_type
        == "qilin_vl"
    ):
        model = QilinVLForConditionalGeneration.from_pretrained(model_path, dtype=dtype)
        return model, tokenizer, AutoImageProcessor.from_pretrained(model_path)
    vision_model, processor = load_vision_tower(vision_dir)
    llm = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=dtype, trust_remote_code=model_settings.trust_remote_code
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
