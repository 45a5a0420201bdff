"""The embedded default's starting models: the tiny Llama (optionally pre-trained on general text) and the demo ViT.

fingerprint = base_fingerprint(recipe.embedded, recipe.general_pretrain, texts)
metrics = build_base(recipe.embedded, recipe.general_pretrain, general_files, recipe.model, texts, fingerprint, out)
metrics = build_demo_vit(recipe.embedded_vision, records_path, out)
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from qilin.config import CptSettings, EmbeddedModelSettings, EmbeddedVisionSettings, ModelSettings, to_dict
from qilin.durable import replace_dir_atomic
from qilin.embedded.general_base import general_base_key, pretrain_general
from qilin.embedded.model import build_embedded_model
from qilin.embedded.vit import pretrain_tiny_vit
from qilin.hashing import digest, file_sha256
from qilin.log import get_logger

log = get_logger(__name__)

# What the manifest records of a general pre-training.
_BASE_METRICS = ("first_loss", "last_loss", "steps", "train_seconds", "pretrain_seconds", "cached")


def base_fingerprint(shape: EmbeddedModelSettings, general: CptSettings | None, texts: list[str]) -> str:
    """Fingerprint of the embedded base: its shape, its general pre-training and the tokenizer's corpus."""
    # The general pre-training is hashed inside the shape's dict, where the recipe once kept it, so a run
    # directory and the general-base cache from before the section moved stay valid.
    settings = {**to_dict(shape), "general_pretrain": to_dict(general)}
    return digest({"embedded": settings, "corpus": digest(texts)})


def build_base(
    shape: EmbeddedModelSettings,
    general: CptSettings | None,
    general_data: list[Path],
    model: ModelSettings,
    texts: list[str],
    fingerprint: str,
    out: Path,
) -> dict[str, Any]:
    """Write the embedded base to `out` (pre-trained on `general_data` when `general` is set); its metrics."""
    log.info("building the embedded base model (tokenizer trained on the bundled corpus, tiny Llama)")
    out.parent.mkdir(parents=True, exist_ok=True)
    if general is None:
        build_embedded_model(shape, texts, out)
        return {}
    trained, metrics = pretrain_general(
        general,
        general_data,
        model,
        general_base_key(fingerprint, model),
        lambda initial: build_embedded_model(shape, texts, initial),
    )
    replace_dir_atomic(out, lambda tmp: shutil.copytree(trained, tmp, dirs_exist_ok=True))
    return {k: metrics[k] for k in _BASE_METRICS if k in metrics}


def demo_vit_fingerprint(settings: EmbeddedVisionSettings, records_path: Path) -> str:
    """Fingerprint of the demo ViT: its settings and the pre-training scans' records."""
    return digest({"vision": to_dict(settings), "images": file_sha256(records_path)})


def build_demo_vit(settings: EmbeddedVisionSettings, records_path: Path, out: Path) -> dict[str, Any]:
    """Pre-train the demo ViT on the scans listed in `records_path` into `out`; its loss, steps and seconds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    pretrain_tiny_vit(settings, json.loads(records_path.read_text()), records_path.parent, out)
    losses = json.loads((out / "pretrain_losses.json").read_text())
    return {
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "steps": len(losses),
        "train_seconds": round(time.time() - started, 1),
    }
