"""General pre-training of the embedded base: a tiny model that knows some general facts before DCPT.

A forgetting check needs a base that knows general things to forget; the randomly initialised tiny Llama knows
nothing. So, when the recipe's `general_pretrain` is set, the base is the tiny model after a CPT run (the CPT stage
itself, with the section's settings) on general text such as the bundled `embedded:general`. The result is
cached in `$QILIN_CACHE/general-base/<key>`, keyed by everything that changes it (the base's fingerprint: model
shape, seed, the tokenizer's corpus, these settings; and the model settings), under the same file lock as the
packed-corpus cache, so a second run, or a fresh run directory, pays nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qilin.config import CptSettings, ModelSettings, to_dict
from qilin.data.text.packed_cache import build_once, cache_dir
from qilin.durable import write_atomic
from qilin.hashing import digest, file_sha256
from qilin.log import get_logger
from qilin.stages.protocol import StageContext

log = get_logger(__name__)

# Bump when the same inputs would now train a different model (a change to how it is trained here).
GENERAL_BASE_VERSION = 1


def general_base_key(base_fingerprint: str, model: ModelSettings) -> str:
    """Cache key of a general pre-training: the untrained base's fingerprint, how models load, the version."""
    settings = {k: v for k, v in to_dict(model).items() if k != "path"}
    return digest({"base": base_fingerprint, "model_settings": settings, "version": GENERAL_BASE_VERSION})[:16]


def pretrain_general(
    settings: CptSettings,
    data: list[Path],
    model: ModelSettings,
    key: str,
    build_initial: Callable[[Path], Any],
) -> tuple[Path, dict[str, Any]]:
    """(model directory, metrics) of the base pre-trained on `data`, from the cache when it holds `key`.

    `build_initial(dir)` writes the untrained model (tokenizer included) into `dir`; it runs only on a cache miss.
    Metrics: the CPT run's loss, steps and seconds, and `cached` (True when nothing was trained now).
    """
    from qilin.stages import cpt

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # CPT's tokenizing workers import the user's script; one without `if __name__ == "__main__":` would run
        # the recipe again in the worker and wait forever for the lock its parent holds (as in stages.cpt).
        raise RuntimeError("general pre-training was started again inside a tokenizing worker (no main guard)")
    root = cache_dir("general-base") / key
    done = root / "metrics.json"  # written last: the cached model is complete once it exists
    stage_dir = root / "stage"

    def build() -> None:
        for leftover in (root / "initial", stage_dir):  # a killed earlier try; we hold the lock
            if leftover.exists():
                shutil.rmtree(leftover)
        build_initial(root / "initial")
        log.info(f"pre-training the embedded base on general text ({', '.join(p.name for p in data)})")
        started = time.time()
        ctx = StageContext(
            settings, data, [file_sha256(p) for p in data], root / "initial", model, stage_dir, feeds_next_stage=True
        )
        metrics = cpt.run(ctx)
        metrics["pretrain_seconds"] = round(time.time() - started, 1)  # packing and saving included
        shutil.rmtree(stage_dir / "checkpoints", ignore_errors=True)  # resuming a finished run needs none
        shutil.rmtree(root / "initial")
        write_atomic(done, json.dumps(metrics, indent=1))

    built = build_once(done, build)
    metrics = json.loads(done.read_text())
    if not built:
        log.info(f"general pre-training: reusing {stage_dir / 'model'} (cached)")
    return stage_dir / "model", {**metrics, "cached": not built}
