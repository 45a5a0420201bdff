"""Run a recipe's stages in order, each starting from the previous stage's output, with a manifest.

The run directory's manifest.json lists every stage with its inputs (content hashes), output, metrics and
status. A stage whose recorded fingerprint (its config, its input model and its data) is unchanged and whose
status is complete is skipped; a stage that was interrupted resumes from its last complete checkpoint; a
stage whose inputs changed starts again. The manifest is rewritten atomically after every change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qilin.config import VL_STAGES, Recipe, to_dict
from qilin.data.text.formats import iter_file
from qilin.distributed import is_main_process, main_process_first

EMBEDDED_PREFIX = "embedded:"
BASE = "base"


# --- fingerprints ------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def model_dir_fingerprint(path: Path) -> str:
    """Hash of a user's model directory: small files by content, weight shards by name, size and mtime.

    Hashing 15 GB of weights on every run would cost minutes; a changed shard changes its size or mtime.
    """
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if not p.is_file():
            continue
        stat = p.stat()
        h.update(str(p.relative_to(path)).encode())
        if stat.st_size < (16 << 20):
            h.update(file_sha256(p).encode())
        else:
            h.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# --- manifest ----------------------------------------------------------------------------------------


class Manifest:
    """The run directory's record of stages; every update is written through (tmp file, then rename).

    Only the main process writes it; the other processes of a launched run keep their copy in memory and
    re-read the file after each step the main process did first.
    """

    def __init__(self, run_dir: Path, recipe_name: str):
        self.path = run_dir / "manifest.json"
        self.data = {"recipe": recipe_name, "stages": {}}
        self.reload()

    def reload(self) -> None:
        """Read the file, if there is one."""
        if self.path.exists():
            self.data = json.loads(self.path.read_text())

    def stage(self, name: str) -> dict[str, Any]:
        """The stage's record (empty if the stage never ran)."""
        return self.data["stages"].get(name, {})

    def update(self, name: str, **fields: Any) -> None:
        """Merge `fields` into the stage's record and write the manifest."""
        self.data["stages"].setdefault(name, {}).update(fields)
        self.save()

    def save(self) -> None:
        """Write atomically so a killed run never leaves a truncated manifest."""
        if not is_main_process():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False))
        os.replace(tmp, self.path)


# --- running -----------------------------------------------------------------------------------------


def _stage_module(name: str) -> Any:
    import importlib

    # only the stage that runs: importing the VL stages pulls in vision code (and its warnings) for text runs
    return importlib.import_module(f"qilin.stages.{name}")


def resolve_data(entries: list[str], run_dir: Path, recipe: Recipe | None = None) -> list[Path]:
    """Data paths of a stage; 'embedded:PART' names a part of the bundled miniature ChiMed or ChiMed-VL."""
    paths = []
    for entry in entries:
        if entry.startswith(EMBEDDED_PREFIX):
            part = entry[len(EMBEDDED_PREFIX) :]
            from qilin.datasets.chimed import EMBEDDED_PARTS, build_embedded
            from qilin.datasets.vl_embedded import PARTS as VL_PARTS

            if part in VL_PARTS:
                from qilin.datasets.vl_embedded import build_embedded_vl

                settings = recipe.embedded_vision if recipe else Recipe().embedded_vision
                paths.append(build_embedded_vl(run_dir / "data-vl", settings)[part])
            elif part in EMBEDDED_PARTS:
                paths.append(build_embedded(run_dir / "data")[part])
            else:
                known = ", ".join([*EMBEDDED_PARTS, *VL_PARTS])
                raise ValueError(f"data entry {entry!r}: the embedded data has parts {known}")
        else:
            path = Path(entry).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"data file {entry!r} not found (resolved to {path.resolve()})")
            paths.append(path)
    return paths


def _all_texts(recipe: Recipe, run_dir: Path) -> Iterator[str]:
    """Every text of every stage's data: the embedded tokenizer's training corpus."""
    for name, stage in recipe.enabled_stages():
        for path in resolve_data(stage.data, run_dir, recipe):
            if name in VL_STAGES:
                from qilin.data.vision.vl_data import read_vl_file

                for record in read_vl_file(path, stage.format, stage.images):
                    yield from (m["content"] for m in record.messages)
                continue
            for record in iter_file(path, name):
                if isinstance(record, str):
                    yield record
                elif isinstance(record, list):
                    yield from (m["content"] for m in record)
                else:
                    yield from (m["content"] for m in record["prompt"])
                    yield record["chosen"]
                    yield record["rejected"]


def _base_model(recipe: Recipe, run_dir: Path, manifest: Manifest) -> tuple[Path, str]:
    """(path, fingerprint) of the model the first stage starts from, building the embedded one if asked."""
    use_embedded = recipe.model.path == "embedded" or (
        recipe.model.if_missing == "embedded" and not (Path(recipe.model.path).expanduser() / "config.json").exists()
    )
    if not use_embedded:
        path = Path(recipe.model.path).expanduser()
        from qilin.models.loading import check_model_dir

        check_model_dir(path)
        fingerprint = model_dir_fingerprint(path)
        manifest.update(BASE, status="given", fingerprint=fingerprint, output=str(path))
        return path, fingerprint
    from qilin.models.embedded import build_embedded_model

    texts = list(_all_texts(recipe, run_dir))
    fingerprint = _digest({"embedded": to_dict(recipe.embedded), "corpus": _digest(texts)})
    out = run_dir / BASE / "model"
    record = manifest.stage(BASE)
    if record.get("fingerprint") != fingerprint or record.get("status") != "complete" or not out.exists():
        print("building the embedded base model (tokenizer trained on the bundled corpus, tiny Llama)")
        out.parent.mkdir(parents=True, exist_ok=True)
        build_embedded_model(recipe.embedded, texts, out)
        manifest.update(BASE, status="complete", fingerprint=fingerprint, output=str(out.relative_to(run_dir)))
    return out, fingerprint


def _vision_dir(recipe: Recipe, run_dir: Path, manifest: Manifest) -> tuple[Path, str]:
    """(path, fingerprint) of the vision tower: the recipe's, or the demo ViT pre-trained here once."""
    if recipe.vision.path != "embedded":
        path = Path(recipe.vision.path).expanduser()
        from qilin.models.loading import check_model_dir

        check_model_dir(path)
        return path, model_dir_fingerprint(path)
    from qilin.models.vision import pretrain_tiny_vit

    settings = recipe.embedded_vision
    records_path = resolve_data([EMBEDDED_PREFIX + "vl-pretrain"], run_dir, recipe)[0]
    fingerprint = _digest({"vision": to_dict(settings), "images": file_sha256(records_path)})
    out = run_dir / "vision" / "model"
    record = manifest.stage("vision")
    if record.get("fingerprint") != fingerprint or record.get("status") != "complete" or not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        started = time.time()
        pretrain_tiny_vit(settings, json.loads(records_path.read_text()), records_path.parent, out)
        losses = json.loads((out / "pretrain_losses.json").read_text())
        metrics = {
            "first_loss": losses[0],
            "last_loss": losses[-1],
            "steps": len(losses),
            "train_seconds": round(time.time() - started, 1),
        }
        manifest.update(
            "vision", status="complete", fingerprint=fingerprint, output=str(out.relative_to(run_dir)), metrics=metrics
        )
    return out, fingerprint


def _rag_index(recipe: Recipe, run_dir: Path) -> Path:
    """The BM25 index over the recipe's RAG corpus, built once per corpus content."""
    from qilin.rag.index import build_index

    corpus = resolve_data(recipe.eval.rag, run_dir, recipe)
    out = run_dir / "rag" / "index"
    stamp = out.parent / "corpus.sha256"
    digest = _digest([file_sha256(p) for p in corpus])
    if not (out / "index.json").exists() or not stamp.exists() or stamp.read_text() != digest:
        print(f"building the RAG index over {', '.join(map(str, corpus))}")
        out.parent.mkdir(parents=True, exist_ok=True)
        build_index(corpus, out)
        stamp.write_text(digest)
    return out


def _evaluate(name: str, model_dir: Path, recipe: Recipe, run_dir: Path, manifest: Manifest) -> None:
    """Run the recipe's evaluation on a model unless its result for these settings is already recorded."""
    from qilin.eval.suite import evaluate_model

    is_vl = name in VL_STAGES
    keys = ("vqa",) if is_vl else ("cmexam", "qa")
    data = {key: resolve_data([entry], run_dir, recipe)[0] for key in keys if (entry := getattr(recipe.eval, key))}
    if not data:
        return
    if "cmexam" in data and recipe.eval.rag:
        data["rag"] = _rag_index(recipe, run_dir)
    record = manifest.stage(name)
    eval_fingerprint = _digest(
        {
            "settings": to_dict(recipe.eval),
            "data": {k: file_sha256(p / "passages.jsonl" if k == "rag" else p) for k, p in data.items()},
            "model": record.get("fingerprint"),
        }
    )
    if record.get("eval_fingerprint") == eval_fingerprint:
        return
    print(f"[{name}] evaluating {model_dir}")
    metrics = {**record.get("metrics", {}), **evaluate_model(model_dir, recipe.eval, recipe.model, data)}
    manifest.update(name, metrics=metrics, eval_fingerprint=eval_fingerprint)


def run_recipe(recipe: Recipe, run_dir: Path) -> Manifest:
    """Run every enabled stage of `recipe` in `run_dir`, evaluating the base model and each stage's output.

    In a launched run every process runs this; the main process does each non-training step first
    (`main_process_first`) and the others then find it done, so they agree on every decision.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    say = print if is_main_process() else (lambda *_: None)
    with main_process_first():
        manifest = Manifest(run_dir, recipe.name)
        model_path, model_fingerprint = _base_model(recipe, run_dir, manifest)
        _evaluate(BASE, model_path, recipe, run_dir, manifest)
    vision_dir = vision_fingerprint = None
    for name, cfg in recipe.enabled_stages():
        stage_dir = run_dir / name
        with main_process_first():
            manifest.reload()
            data = resolve_data(cfg.data, run_dir, recipe)
            extra: dict = {}
            if name in VL_STAGES:
                if vision_dir is None:
                    vision_dir, vision_fingerprint = _vision_dir(recipe, run_dir, manifest)
                extra = {"vision_dir": vision_dir, "vision": recipe.vision}
            data_hashes = [file_sha256(p) for p in data]
            inputs = {
                "model": {"path": str(model_path), "fingerprint": model_fingerprint},
                "data": [{"path": str(p), "sha256": h} for p, h in zip(data, data_hashes, strict=False)],
                "config": to_dict(cfg),
                "model_settings": to_dict(recipe.model),
            }
            # content only, no paths: a moved or copied run directory still skips its finished stages
            fingerprint = _digest(
                {
                    "model": model_fingerprint,
                    "data": data_hashes,
                    "config": inputs["config"],
                    "model_settings": {k: v for k, v in inputs["model_settings"].items() if k != "path"},
                    **({"vision": vision_fingerprint, "vision_settings": to_dict(recipe.vision)} if extra else {}),
                }
            )
            record = manifest.stage(name)
            output = stage_dir / "model"
            done = record.get("status") == "complete" and record.get("fingerprint") == fingerprint and output.exists()
            if done:
                say(f"[{name}] complete with unchanged inputs: skipped")
            else:
                if record.get("fingerprint") not in (None, fingerprint) and stage_dir.exists():
                    say(f"[{name}] inputs changed since the last run: starting this stage again")
                    shutil.rmtree(stage_dir)
                stage_dir.mkdir(parents=True, exist_ok=True)
                manifest.data["stages"][name] = {}  # forget metrics and evaluations of an earlier model
                manifest.update(name, status="running", fingerprint=fingerprint, inputs=inputs, started=time.time())
                say(f"[{name}] training from {model_path}")
        if not done:
            try:
                metrics = _stage_module(name).run(cfg, data, data_hashes, model_path, recipe.model, stage_dir, **extra)
            except BaseException as e:
                manifest.update(name, status="failed", error=f"{type(e).__name__}: {e}")
                raise
            manifest.update(
                name, status="complete", output=str(output.relative_to(run_dir)), metrics=metrics, finished=time.time()
            )
        with main_process_first():
            manifest.reload()
            _evaluate(name, output, recipe, run_dir, manifest)
        model_path, model_fingerprint = output, fingerprint
    return manifest
