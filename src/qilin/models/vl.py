"""Qilin-Med-VL: a frozen vision encoder, a projection adapter, and a causal LM.

Image patch features from the vision tower are projected into the LLM's embedding space and spliced into
the text at the positions of the `<image>` token (each `<image>` is expanded to one token per patch before
the model sees it). The projector is a single linear layer as the paper describes ("linear"), or
LLaVA-1.5's two-layer GELU MLP ("mlp", what the authors' released checkpoint uses); with "mlp" and a
CLIP/SigLIP tower the model exports to transformers' `LlavaForConditionalGeneration` layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from qilin.chat_templates import IMAGE_TOKEN


def _sub_config(value: Any) -> PretrainedConfig | None:
    if isinstance(value, dict):
        return CONFIG_MAPPING[value["model_type"]](**value)
    return value


class QilinVLConfig(PretrainedConfig):
    """Vision tower config, LLM config, projector type, which vision layer feeds the projector, image token."""

    model_type = "qilin_vl"
    sub_configs = {"vision_config": AutoConfig, "text_config": AutoConfig}  # noqa: RUF012 (transformers API)

    def __init__(
        self,
        vision_config: Any = None,
        text_config: Any = None,
        projector: str = "linear",
        vision_feature_layer: int = -2,
        drop_cls: bool = True,
        image_token_index: int = 0,
        **kwargs: Any,
    ):
        self.vision_config = _sub_config(vision_config)
        self.text_config = _sub_config(text_config)
        self.projector = projector
        self.vision_feature_layer = vision_feature_layer
        self.drop_cls = drop_cls  # CLIP and ViT prepend a CLS token; SigLIP has none
        self.image_token_index = image_token_index
        super().__init__(**kwargs)


def build_projector(kind: str, vision_hidden: int, text_hidden: int) -> nn.Module:
    """'linear' (the paper) or 'mlp' (LLaVA-1.5: Linear, GELU, Linear)."""
    if kind == "linear":
        return nn.Linear(vision_hidden, text_hidden)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(vision_hidden, text_hidden), nn.GELU(), nn.Linear(text_hidden, text_hidden))
    raise ValueError(f"unknown projector {kind!r}; expected 'linear' or 'mlp'")


class QilinVLForConditionalGeneration(PreTrainedModel):
    """Vision tower (always frozen) -> projector -> causal LM."""

    config_class = QilinVLConfig
    base_model_prefix = "qilin_vl"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: QilinVLConfig):
        super().__init__(config)
        self.vision_tower = AutoModel.from_config(config.vision_config)
        vision_hidden = config.vision_config.hidden_size
        self.projector = build_projector(config.projector, vision_hidden, config.text_config.hidden_size)
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        self.vision_tower.requires_grad_(False)
        self.post_init()

    @classmethod
    def from_parts(
        cls, vision: PreTrainedModel, llm: PreTrainedModel, projector: str, image_token_index: int, feature_layer: int
    ) -> QilinVLForConditionalGeneration:
        """Assemble a VL model from a loaded vision encoder and LLM; the projector starts fresh."""
        config = QilinVLConfig(
            vision_config=vision.config,
            text_config=llm.config,
            projector=projector,
            vision_feature_layer=feature_layer,
            drop_cls=vision.config.model_type != "siglip_vision_model",
            image_token_index=image_token_index,
        )
        model = cls(config)
        model.vision_tower.load_state_dict(vision.state_dict())
        model.language_model.load_state_dict(llm.state_dict())
        if llm.config.tie_word_embeddings:
            model.language_model.tie_weights()
        return model.to(llm.dtype)

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    @property
    def num_image_tokens(self) -> int:
        """Tokens one image becomes: one per patch (plus the CLS token unless it is dropped)."""
        vc = self.config.vision_config
        patches = (vc.image_size // vc.patch_size) ** 2
        has_cls = vc.model_type != "siglip_vision_model"
        return patches + (1 if has_cls and not self.config.drop_cls else 0)

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, P, D_text) projected patch features of N images."""
        with torch.no_grad():  # the vision tower is frozen in every stage
            out = self.vision_tower(pixel_values.to(self.vision_tower.dtype), output_hidden_states=True)
        hidden = out.hidden_states[self.config.vision_feature_layer]  # (N, P(+1), D_vision)
        if self.config.drop_cls and self.config.vision_config.model_type != "siglip_vision_model":
            hidden = hidden[:, 1:]
        return self.projector(hidden.to(self.projector_dtype))

    @property
    def projector_dtype(self) -> torch.dtype:
        return next(self.projector.parameters()).dtype

    def embed(self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None) -> torch.Tensor:
        """(B, T, D) input embeddings with image features spliced in at the image-token positions."""
        embeds = self.language_model.get_input_embeddings()(input_ids)
        if pixel_values is None:
            return embeds
        features = self.image_features(pixel_values).to(embeds.dtype)  # (N, P, D)
        mask = (input_ids == self.config.image_token_index).unsqueeze(-1)  # (B, T, 1)
        if int(mask.sum()) != features.shape[0] * features.shape[1]:
            raise ValueError(
                f"{int(mask.sum())} image tokens in the text but {features.shape[0]} images x "
                f"{features.shape[1]} features; each <image> must expand to {features.shape[1]} tokens"
            )
        return embeds.masked_scatter(mask, features.reshape(-1, features.shape[-1]))

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """Causal-LM outputs (loss when labels are given) of text with images."""
        embeds = self.embed(input_ids, pixel_values)
        return self.language_model(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels, **kwargs)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        attention_mask: Any = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """New tokens only, generated by the LLM from the spliced embeddings."""
        embeds = self.embed(input_ids, pixel_values)
        return self.language_model.generate(inputs_embeds=embeds, attention_mask=attention_mask, **kwargs)


def export_llava(model: QilinVLForConditionalGeneration, processor: Any, tokenizer: Any, out_dir: Path) -> Path:
    """Write the model in transformers' LlavaForConditionalGeneration layout (MLP projector, CLIP/SigLIP tower).

    vLLM and other LLaVA tooling load the result. Only the weight names change: our projector's two linear
    layers become `multi_modal_projector.linear_1/linear_2`.
    """
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    if model.config.projector != "mlp":
        raise ValueError("only the 'mlp' projector has a LLaVA equivalent; this model uses 'linear'")
    vision_type = model.config.vision_config.model_type
    if vision_type not in ("clip_vision_model", "siglip_vision_model"):
        raise ValueError(f"LLaVA needs a CLIP or SigLIP vision tower, this one is {vision_type!r}")
    config = LlavaConfig(
        vision_config=model.config.vision_config.to_dict(),
        text_config=model.config.text_config.to_dict(),
        image_token_index=model.config.image_token_index,
        projector_hidden_act="gelu",
        vision_feature_layer=model.config.vision_feature_layer,
        vision_feature_select_strategy="default" if model.config.drop_cls else "full",
        image_seq_length=model.num_image_tokens,
        multimodal_projector_bias=True,
        tie_word_embeddings=model.config.text_config.tie_word_embeddings,
    )
    llava = LlavaForConditionalGeneration(config)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("vision_tower."):
            state["model." + key] = value
        elif key.startswith("projector.0."):
            state["model.multi_modal_projector.linear_1." + key.split(".", 2)[2]] = value
        elif key.startswith("projector.2."):
            state["model.multi_modal_projector.linear_2." + key.split(".", 2)[2]] = value
        elif key.startswith("language_model.model."):
            state["model.language_model." + key[len("language_model.model.") :]] = value
        elif key.startswith("language_model.lm_head."):
            state["lm_head." + key[len("language_model.lm_head.") :]] = value
    missing, unexpected = llava.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise RuntimeError(f"LLaVA export mismatch: missing {missing}, unexpected {unexpected}")
    llava.save_pretrained(out_dir)
    LlavaProcessor(
        image_processor=processor,
        tokenizer=tokenizer,
        patch_size=model.config.vision_config.patch_size,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=0 if vision_type == "siglip_vision_model" else 1,  # CLIP's CLS token
        chat_template=with_image_parts(tokenizer.chat_template),
    ).save_pretrained(out_dir)
    return out_dir


def with_image_parts(template: str) -> str:
    """The training chat template, taught to read OpenAI/transformers content lists: an image part becomes
    `<image>` and a line break, as training placed it (`with_image_token`), a text part its text."""
    image = IMAGE_TOKEN + "\n"
    prelude = (
        "{%- set qilin = namespace(messages=[]) -%}{%- for m in messages -%}{%- set part = namespace(text='') -%}"
        "{%- if m['content'] is string -%}{%- set part.text = m['content'] -%}{%- else -%}"
        "{%- for p in m['content'] -%}{%- if p['type'] in ('image', 'image_url') -%}"
        f"{{%- set part.text = part.text + {image!r} -%}}"
        "{%- elif p['type'] == 'text' -%}{%- set part.text = part.text + p['text'] -%}{%- endif -%}{%- endfor -%}"
        "{%- endif -%}{%- set qilin.messages = qilin.messages + [{'role': m['role'], 'content': part.text}] -%}"
        "{%- endfor -%}{%- set messages = qilin.messages -%}"
    )
    return prelude + template


# Registered so AutoConfig / AutoTokenizer can read a Qilin-Med-VL directory by its model_type.
AutoConfig.register("qilin_vl", QilinVLConfig, exist_ok=True)
