"""DPO reference log-probs scored once and kept on disk, so epochs, reruns and resumed runs reuse them.

trl 1.16 can score the reference before training (`precompute_ref_log_probs`): it adds the columns
`ref_chosen_logps` and `ref_rejected_logps` to the tokenized dataset, its collator passes them into each batch,
its loss reads them instead of running the reference, and full fine-tuning then loads no reference copy. We keep
all of that and trl's per-batch scorer (`compute_ref_log_probs`), and replace its precompute loop for the train
set: trl keeps the values only in a datasets cache file (for an in-memory dataset like ours, a temporary
directory deleted when the process ends, and unreadable by the other processes of a launch). Here they are
saved under the run directory, outside the stage directory that a config change deletes, and attached on the
next run, so trl runs no reference forward pass at all:

    <run_dir>/cache/dpo_ref/<key>/ref_logps.safetensors   ref_chosen_logps, ref_rejected_logps: (N,) float32
    <run_dir>/cache/dpo_ref/<key>/meta.json                the key's inputs, N, and the sha256 of the tensors

The key hashes everything the numbers depend on: the reference model directory, the data files, the chat
template, max_length and truncation, the token ids themselves, the weight dtype and attention kernel, and trl's
version. It does not include the finetune mode: the LoRA reference (adapter disabled) is the starting model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import safetensors.torch
import torch
import trl
from accelerate.utils import tqdm
from datasets import Dataset
from torch.utils.data import DataLoader
from trl import DPOTrainer
from trl.models import prepare_deepspeed

from qilin.config import ModelSettings
from qilin.distributed import is_main_process
from qilin.durable import write_atomic
from qilin.hashing import bytes_sha256, model_dir_fingerprint
from qilin.log import get_logger

log = get_logger(__name__)

COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")  # trl's names; its collator and loss read these
TOKEN_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")
TENSORS = "ref_logps.safetensors"
META = "meta.json"


class UnusableCache(ValueError):
    """A cache entry is missing, torn, corrupt or for other rows; it must be recomputed, never used."""


def reference_sources(
    model_path: Path, data_fingerprints: list[str], model_settings: ModelSettings, dtype: torch.dtype
) -> dict[str, Any]:
    """The key inputs known before tokenization: reference weights, data files, the dtype the reference is scored
    in (the stage's load dtype) and the attention kernel."""
    return {
        "reference_model": model_dir_fingerprint(model_path),
        "data": list(data_fingerprints),
        "dtype": str(dtype),
        "attn_implementation": model_settings.attn_implementation,
    }


def token_digest(dataset: Dataset) -> str:
    """Hash of every row's token ids, in order.

    File hashes miss a changed reader or template and trl's dropping of over-long prompts; the token ids catch
    those, and they pin the row order, so a loaded value always belongs to the row it was computed for.
    """
    h = hashlib.sha256()
    for batch in dataset.select_columns(list(TOKEN_COLUMNS)).with_format("arrow").iter(batch_size=10_000):
        for name in TOKEN_COLUMNS:
            h.update(pc.list_value_length(batch[name]).to_numpy().astype(np.int64).tobytes())
            h.update(pc.list_flatten(batch[name]).to_numpy().astype(np.int64).tobytes())
    return h.hexdigest()


def cache_key(key_inputs: dict[str, Any]) -> str:
    """Directory name of a cache entry: a short hash of its inputs (meta.json holds them in full)."""
    return bytes_sha256(json.dumps(key_inputs, sort_keys=True).encode())[:16]


def read_reference_logps(entry: Path, key_inputs: dict[str, Any], rows: int) -> dict[str, torch.Tensor]:
    """The cached columns of `entry`, checked against its meta.json; UnusableCache says why they cannot be used."""
    try:
        meta = json.loads((entry / META).read_text(encoding="utf-8"))
        data = (entry / TENSORS).read_bytes()
    except FileNotFoundError as e:
        raise UnusableCache(f"{Path(e.filename).name} missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UnusableCache(f"{META} unreadable") from None
    if not isinstance(meta, dict) or meta.get("key_inputs") != key_inputs:
        raise UnusableCache(f"{META} is for other inputs")
    if meta.get("sha256") != bytes_sha256(data):
        raise UnusableCache(f"{TENSORS} does not match the sha256 in {META} (torn or altered)")
    columns = safetensors.torch.load(data)
    for name in COLUMNS:
        values = columns.get(name)
        if values is None or values.shape != (rows,) or values.dtype != torch.float32:
            raise UnusableCache(f"{name} is not {rows} float32 values")
        if not torch.isfinite(values).all():
            raise UnusableCache(f"{name} has non-finite values")
    return {name: columns[name] for name in COLUMNS}


def write_reference_logps(entry: Path, columns: dict[str, torch.Tensor], key_inputs: dict[str, Any]) -> None:
    """Write the columns, then meta.json; each file is replaced atomically and meta.json vouches for the tensors."""
    data = safetensors.torch.save({name: columns[name].contiguous() for name in COLUMNS})
    write_atomic(entry / TENSORS, data)
    # Written last: a kill between the two writes leaves no meta.json or one whose sha256 does not match.
    meta = {"key_inputs": key_inputs, "rows": len(columns[COLUMNS[0]]), "sha256": bytes_sha256(data)}
    write_atomic(entry / META, json.dumps(meta, indent=1, sort_keys=True))


class CachedReferenceDPOTrainer(DPOTrainer):
    """trl's DPOTrainer with `precompute_ref_log_probs`, whose precomputed train-set columns are kept on disk."""

    def __init__(self, *args: Any, cache_dir: Path, sources: dict[str, Any], **kwargs: Any) -> None:
        # Set before trl's __init__, which runs the precompute.
        self.reference_cache_dir = cache_dir
        self.reference_sources = sources
        self.reference_cache_entry: Path | None = None
        self.reference_cache_loaded = False
        super().__init__(*args, **kwargs)

    def _precompute_ref_logps(self, dataset: Dataset, name: str, batch_size: int) -> Dataset:
        # trl 1.16 adds the columns here, from __init__ (train and eval sets) and from evaluate(). We take over the
        # train set: trl can neither save the values nor accept saved ones. Other sets stay with trl.
        if name != "train":
            return super()._precompute_ref_logps(dataset, name, batch_size)
        key_inputs = {
            **self.reference_sources,
            "chat_template_sha256": bytes_sha256((self.processing_class.chat_template or "").encode()),
            "max_length": self.args.max_length,
            "truncation_mode": self.args.truncation_mode,
            "tokens": token_digest(dataset),
            "trl": trl.__version__,
        }
        entry = self.reference_cache_entry = self.reference_cache_dir / cache_key(key_inputs)
        columns, problem = None, None
        if entry.exists():
            try:
                columns = read_reference_logps(entry, key_inputs, len(dataset))
            except UnusableCache as e:
                problem = str(e)
        # Every process must take the same branch (scoring gathers across processes): load only if all could read.
        readable = torch.tensor([int(columns is not None)], device=self.accelerator.device)
        if bool(self.accelerator.gather(readable).all()):
            self.reference_cache_loaded = True
            log.info(f"dpo reference log-probs: loaded from {entry} ({len(dataset)} pairs)")
        else:
            columns = self._score_reference(dataset, batch_size)
            if is_main_process():  # one writer
                write_reference_logps(entry, columns, key_inputs)
                why = f"; the cache there was unusable: {problem}" if problem else ""
                log.info(f"dpo reference log-probs: computed for {len(dataset)} pairs, saved to {entry}{why}")
            self.accelerator.wait_for_everyone()
        for column in COLUMNS:
            dataset = dataset.add_column(column, columns[column].numpy())
        return dataset

    def _score_reference(self, dataset: Dataset, batch_size: int) -> dict[str, torch.Tensor]:
        """Every row's reference log-probs, in dataset order, on every process, via trl's compute_ref_log_probs.

        The loop is trl's own (`DPOTrainer._precompute_ref_logps`), minus its hand-over: trl passes the values from
        the main process to the others through a datasets cache file, which for an in-memory dataset like ours is
        named at random in each process, so under torchrun every process but the main one fails to open it
        (FileNotFoundError; trl 1.16, datasets 5.2).
        """
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            shuffle=False,
        )
        model = self.ref_model or self.model
        if self.ref_model is None and self.is_deepspeed_enabled:
            # Before train() DeepSpeed has neither placed (ZeRO-1/2) nor gathered (ZeRO-3) the weights; as trl does.
            model = prepare_deepspeed(self.model, self.accelerator)
        chosen, rejected = [], []
        for batch in tqdm(self.accelerator.prepare(loader), desc="Scoring pairs with the reference model"):
            chosen_logps, rejected_logps = self.compute_ref_log_probs(model, batch)  # (B,), (B,)
            # Each process scored its own batches; gathered, every process holds every row once, in order.
            chosen_logps, rejected_logps = self.accelerator.gather_for_metrics((chosen_logps, rejected_logps))
            chosen.append(chosen_logps.float().cpu())
            rejected.append(rejected_logps.float().cpu())
        return {"ref_chosen_logps": torch.cat(chosen), "ref_rejected_logps": torch.cat(rejected)}
