"""The embedded default's model: a BPE tokenizer trained on the bundled corpus and a tiny Llama from a config.

Nothing is downloaded: the tokenizer learns its vocabulary from the same text the demo trains on, and the
model is randomly initialised from `EmbeddedModelSettings`, so the demo's "base model" knows no medicine
until DCPT teaches it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from qilin.chat_templates import NAMED_TEMPLATES
from qilin.config import EmbeddedModelSettings
from qilin.models.loading import save_pretrained_atomic

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (no unknown tokens, any script) with chatml markers as special tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=1 << 20
    )
    tokenizer.chat_template = NAMED_TEMPLATES["chatml"]
    return tokenizer


def build_tiny_llama(settings: EmbeddedModelSettings, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A randomly initialised Llama-architecture model of the configured size."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        intermediate_size=settings.intermediate_size,
        num_hidden_layers=settings.num_layers,
        num_attention_heads=settings.num_heads,
        num_key_value_heads=settings.num_heads,
        max_position_embeddings=settings.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(settings.seed)
    return LlamaForCausalLM(config)


def build_embedded_model(settings: EmbeddedModelSettings, corpus: Iterable[str], out_dir: Path) -> Path:
    """Train the tokenizer on `corpus`, build the tiny model, save both as a standard HF directory."""
    tokenizer = train_tokenizer(corpus, settings.vocab_size)
    model = build_tiny_llama(settings, tokenizer)
    # Generation stops at EOS or at the chat template's end of turn.
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    save_pretrained_atomic(model, tokenizer, out_dir)
    return out_dir
