"""A content-addressed store of finished stage outputs, shared by run directories (ablation variants, seeds).

    store = StageStore.default()                          # $QILIN_CACHE/stages (QILIN_CACHE: ~/.cache/qilin)
    store.publish("sft", fingerprint, stage_dir, manifest)   # after the stage trained and was evaluated
    store.restore("sft", fingerprint, stage_dir, manifest)   # True: the stage needs no training here

An entry is `<store>/<stage fingerprint>/`: the stage's `model/`, `adapter/` and `log_history.json` (no
checkpoints), `eval.json` (the per-question answers of its evaluation) and `entry.json` (the manifest record:
metrics and evaluation fingerprint, and every file's size and sampled sha256). The fingerprint already covers the
stage's config, starting model, data contents and model settings, so an entry is valid wherever those match.
It leaves out whether a later stage follows: an output that fed one was saved in float32 (see
`qilin.training.precision.output_dtype`) and, reused as a variant's final model, is the same weights at a higher
precision; evaluation and serving load it in model.dtype all the same.

Files of 1 MiB or more (the weights) are hard-linked between the run directory and the store, so a 7B output
costs no second 15 GB; smaller files are copied. Hard links are safe for the weights because every stage output is
only ever replaced whole (`replace_dir_atomic` writes new files), never edited in place; small files such as
log_history.json are rewritten in place by a stage, hence copied. Across file systems, where links fail, every
file is copied (said once in the log).

An entry is written with `replace_dir_atomic` (the directory appears whole or not at all), and `restore` checks
every file against `entry.json` before using it: an entry with a missing, truncated or altered file is removed,
with a warning, and the stage trains.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from qilin.data.text.packed_cache import cache_dir, sampled_sha256
from qilin.distributed import is_main_process
from qilin.durable import replace_dir_atomic, write_atomic
from qilin.log import get_logger
from qilin.pipeline.manifest import Manifest, outcomes_path

log = get_logger(__name__)

STORED = ("model", "adapter", "log_history.json")  # what of a stage directory the store keeps
LINK_MIN_BYTES = 1 << 20
# Manifest fields that describe this run directory's copy, not the stage output itself.
# Gates depend on the recipe, not on the output: each run checks its own.
LOCAL_FIELDS = ("status", "output", "inputs", "started", "store", "gates")


def _place(src: Path, dst: Path) -> str:
    """Hard-link `src` to `dst` when large and possible, else copy; returns 'link' or 'copy'."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.stat().st_size >= LINK_MIN_BYTES:
        try:
            os.link(src, dst)
            return "link"
        except OSError:
            pass
    shutil.copy2(src, dst)
    return "copy"


def _files(root: Path) -> list[Path]:
    """The stored parts of a stage directory, as files relative to it."""
    out = []
    for part in STORED:
        path = root / part
        if path.is_file():
            out.append(Path(part))
        elif path.is_dir():
            out += sorted(p.relative_to(root) for p in path.rglob("*") if p.is_file())
    return out


class StageStore:
    """Finished stage outputs by stage fingerprint; see the module docstring for the layout and guarantees."""

    def __init__(self, root: Path):
        self.root = root
        self._copy_said = False

    @classmethod
    def default(cls) -> StageStore:
        """The store under $QILIN_CACHE/stages."""
        return cls(cache_dir("stages"))

    def entry(self, fingerprint: str) -> Path:
        """The directory of a stage output with this fingerprint (it may not exist)."""
        return self.root / fingerprint

    def _say_copies(self, modes: set[str], big: bool) -> None:
        if big and "copy" in modes and not self._copy_said:
            log.info(f"stage store {self.root}: hard links failed (another file system?), copying outputs instead")
            self._copy_said = True

    def problem(self, fingerprint: str) -> str | None:
        """None when the entry is whole, else what is wrong with it ('missing' when there is none)."""
        entry = self.entry(fingerprint)
        if not entry.is_dir():
            return "missing"
        try:
            meta = json.loads((entry / "entry.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            return f"entry.json unreadable: {e}"
        if meta.get("fingerprint") != fingerprint:
            return "entry.json names another fingerprint"
        for rel, (size, checksum) in meta["files"].items():
            path = entry / "stage" / rel
            if not path.is_file():
                return f"{rel} missing"
            if path.stat().st_size != size:
                return f"{rel} has {path.stat().st_size} bytes, {size} expected"
            if sampled_sha256(path) != checksum:
                return f"{rel} changed since it was stored"
        if meta.get("eval") and not (entry / "eval.json").is_file():
            return "eval.json missing"
        return None

    def publish(self, name: str, fingerprint: str, stage_dir: Path, manifest: Manifest) -> bool:
        """Store a complete stage's output (unless the store holds it already); True if it stored it."""
        record = manifest.stage(name)
        if not is_main_process() or record.get("status") != "complete" or record.get("fingerprint") != fingerprint:
            return False
        if self.problem(fingerprint) is None:
            return False
        answers = outcomes_path(manifest.path.parent, name)
        files = _files(stage_dir)
        modes: set[str] = set()

        def fill(tmp: Path) -> None:
            for rel in files:
                modes.add(_place(stage_dir / rel, tmp / "stage" / rel))
            if answers.is_file():
                shutil.copy2(answers, tmp / "eval.json")
            meta = {
                "fingerprint": fingerprint,
                "stage": name,
                "record": {k: v for k, v in record.items() if k not in LOCAL_FIELDS},
                "eval": answers.is_file(),
                "files": {
                    str(rel): [(tmp / "stage" / rel).stat().st_size, sampled_sha256(tmp / "stage" / rel)]
                    for rel in files
                },
                "stored": time.time(),
            }
            write_atomic(tmp / "entry.json", json.dumps(meta, indent=1))  # last: an entry without it is torn

        replace_dir_atomic(self.entry(fingerprint), fill)
        self._say_copies(modes, any((stage_dir / r).stat().st_size >= LINK_MIN_BYTES for r in files))
        log.info(f"[{name}] output stored as {self.entry(fingerprint)}")
        return True

    def restore(self, name: str, fingerprint: str, stage_dir: Path, manifest: Manifest) -> bool:
        """Put a stored output with this fingerprint into `stage_dir` and record it complete; False if none."""
        if not is_main_process():
            return False
        problem = self.problem(fingerprint)
        if problem == "missing":
            return False
        entry = self.entry(fingerprint)
        if problem is not None:
            log.warning(f"[{name}] stage store entry {entry} is torn ({problem}): removed; training this stage")
            shutil.rmtree(entry, ignore_errors=True)
            return False
        meta = json.loads((entry / "entry.json").read_text())
        modes: set[str] = set()

        def fill(tmp: Path) -> None:
            for rel in meta["files"]:
                modes.add(_place(entry / "stage" / rel, tmp / rel))

        replace_dir_atomic(stage_dir, fill)
        self._say_copies(modes, any(size >= LINK_MIN_BYTES for size, _ in meta["files"].values()))
        answers = outcomes_path(manifest.path.parent, name)
        if meta["eval"]:
            # before the manifest records the evaluation, as evaluate_stage does
            write_atomic(answers, (entry / "eval.json").read_bytes())
        else:  # the entry's evaluation has no outcomes: none of an earlier model may stand in for them
            answers.unlink(missing_ok=True)
        run_dir = manifest.path.parent
        fields: dict[str, Any] = {**meta["record"], "status": "complete", "store": str(entry)}
        manifest.update(name, **fields, output=str((stage_dir / "model").relative_to(run_dir)))
        log.info(f"[{name}] same inputs as stored output {entry}: reused, not trained")
        return True
