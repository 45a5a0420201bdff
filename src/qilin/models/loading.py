"""Loading and saving causal LMs and their tokenizers: the one path every stage uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from qilin.chat_templates import ensure_chat_template
from qilin.config import ModelSettings
from qilin.durable import replace_dir_atomic


def resolve_dtype(name: str) -> torch.dtype:
    """'auto' is bfloat16 on a GPU that supports it, else float32 (CPU bf16 training is slow and lossy)."""
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def resolve_attention(name: str, dtype: torch.dtype, training: bool = False, cuda: bool | None = None) -> str:
    """The attention kernel for 'auto'.

    FlashAttention-2 where it can run (CUDA, the flash-attn package, 16-bit weights): packed rows as variable-length
    sequences. Else, for training on CUDA, flex_attention: transformers turns the position ids of packed rows into a
    per-document block mask, so the kernel skips the blocks between documents that SDPA's dense mask computes and
    throws away. Else PyTorch's SDPA (everywhere; generation, where flex would compile per shape, uses it too).
    """
    if name != "auto":
        return name
    import importlib.util

    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda and importlib.util.find_spec("flash_attn") is not None and dtype in (torch.bfloat16, torch.float16):
        return "flash_attention_2"
    return "flex_attention" if cuda and training else "sdpa"


def check_model_dir(path: str | Path) -> Path:
    """A local Hugging Face model directory, or a clear error (nothing is downloaded at run time)."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path}: not a Hugging Face model directory (no config.json). Qilin loads checkpoints from local "
            "paths only; download the model first (e.g. `huggingface-cli download ORG/NAME --local-dir DIR`)."
        )
    return path


def load_tokenizer(path: str | Path, settings: ModelSettings) -> Any:
    """The model's tokenizer with a pad token and a chat template (the recipe's named one, its own, or chatml)."""
    tokenizer = AutoTokenizer.from_pretrained(str(check_model_dir(path)), trust_remote_code=settings.trust_remote_code)
    if tokenizer.pad_token is None:
        # Reusing EOS for padding is safe: padded positions carry no label and are masked from attention.
        tokenizer.pad_token = tokenizer.eos_token
    ensure_chat_template(tokenizer, settings.chat_template)
    return tokenizer


def load_model(
    path: str | Path,
    settings: ModelSettings,
    safetensors_only: bool = False,
    dtype: torch.dtype | None = None,
    training: bool = False,
) -> PreTrainedModel:
    """A causal LM from a local directory in `dtype` (default: the recipe's `model.dtype`) and attention kernel
    (`training` picks the training kernel for 'auto', see resolve_attention).

    `safetensors_only` refuses pickled `.bin` weights (the server's promise never to unpickle a file).
    """
    dtype = dtype or resolve_dtype(settings.dtype)
    path = check_model_dir(path)
    if safetensors_only and not any(path.glob("*.safetensors")):
        raise FileNotFoundError(
            f"{path}: no .safetensors weights; the server loads no pickles. Convert once with "
            "`AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(NEW_DIR)` (safetensors by default)."
        )
    model = AutoModelForCausalLM.from_pretrained(
        str(path),
        dtype=dtype,
        # remote-code models (Baichuan) bring their own attention: they get what they always got
        attn_implementation=resolve_attention(
            settings.attn_implementation, dtype, training and not settings.trust_remote_code
        ),
        trust_remote_code=settings.trust_remote_code,
        **({"use_safetensors": True} if safetensors_only else {}),
    )
    model.config.use_cache = False  # training never reuses a KV cache; packing needs none
    return model


def for_inference(model: Any) -> Any:
    """`model` in eval mode on the GPU when there is one (loading leaves weights on the CPU; scoring or generating
    a 7B model there would take hours)."""
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model.eval()


def save_pretrained_atomic(model: PreTrainedModel, tokenizer: Any, out_dir: Path, processor: Any = None) -> None:
    """Save a standard HF directory (safetensors, config, tokenizer, image processor) under a temporary name,
    then rename.

    A directory at `out_dir` is therefore always complete: a killed save leaves only `<out_dir>.tmp`.
    """
    model.config.use_cache = True  # for whoever loads it to generate

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)  # safetensors is the only format in transformers 5
        tokenizer.save_pretrained(tmp)
        if processor is not None:
            processor.save_pretrained(tmp)

    replace_dir_atomic(out_dir, fill)


def packs_by_position_ids(model: Any) -> bool:
    """True when the model's attention follows position ids (every transformers architecture).

    Models that bring their own code (`trust_remote_code`, e.g. Baichuan) build their own causal mask and
    ignore position-id segments: packed, their conversations would attend to each other.
    """
    base = getattr(model, "get_base_model", lambda: model)()
    return type(base).__module__.startswith("transformers.")


def stored_dtype(path: str | Path) -> torch.dtype | None:
    """The dtype a model directory's weights were saved in (its config's `dtype`), if it says."""
    config = json.loads((Path(path) / "config.json").read_text())
    name = config.get("dtype") or config.get("torch_dtype")
    return getattr(torch, name) if isinstance(name, str) and hasattr(torch, name) else None
