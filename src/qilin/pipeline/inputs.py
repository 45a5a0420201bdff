"""What a run starts from: data entries resolved to files, and the embedded defaults built on first use.

- `resolve_data`: local paths, or 'embedded:PART' for a part of the bundled miniature ChiMed or ChiMed-VL.
- `base_model`: the recipe's model directory, or the tiny embedded Llama (tokenizer trained on the recipe's texts).
- `vision_tower`: the recipe's vision encoder, or the demo ViT pre-trained once on synthetic scans.
- `rag_index`: the BM25 index over the recipe's retrieval corpus, built once per corpus content.
Each built asset is recorded in the manifest with a fingerprint, so a rerun with the same inputs reuses it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qilin.config import VL_STAGES, Recipe, to_dict
from qilin.data.text.formats import iter_file
from qilin.durable import write_atomic
from qilin.hashing import digest, file_sha256, model_dir_fingerprint
from qilin.log import get_logger
from qilin.pipeline.manifest import Manifest

log = get_logger(__name__)

EMBEDDED_PREFIX = "embedded:"
BASE = "base"


def resolve_data(entries: list[str], run_dir: Path, recipe: Recipe | None = None) -> list[Path]:
    """Data paths of a stage; 'embedded:PART' names a part of the bundled miniature ChiMed or ChiMed-VL."""
    paths = []
    for entry in entries:
        if entry.startswith(EMBEDDED_PREFIX):
            part = entry[len(EMBEDDED_PREFIX) :]
            from qilin.datasets.chimed import EMBEDDED_PARTS, build_embedded
            from qilin.datasets.general import GENERAL_PARTS, build_embedded_general
            from qilin.datasets.vl_embedded import PARTS as VL_PARTS

            if part in GENERAL_PARTS:
                paths.append(build_embedded_general(run_dir / "data-general")[part])
            elif part in VL_PARTS:
                from qilin.datasets.vl_embedded import build_embedded_vl

                settings = recipe.embedded_vision if recipe else Recipe().embedded_vision
                paths.append(build_embedded_vl(run_dir / "data-vl", settings)[part])
            elif part in EMBEDDED_PARTS:
                paths.append(build_embedded(run_dir / "data")[part])
            elif part == "problems":  # GRPO's problems, from the bundled knowledge of the seen diseases
                from qilin.rl.problem_builder import build_embedded_problems

                chimed = build_embedded(run_dir / "data")
                paths.append(build_embedded_problems(run_dir / "data", chimed, run_dir / "data-problems"))
            else:
                known = ", ".join([*EMBEDDED_PARTS, "problems", *GENERAL_PARTS, *VL_PARTS])
                raise ValueError(f"data entry {entry!r}: the embedded data has parts {known}")
        else:
            path = Path(entry).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"data file {entry!r} not found (resolved to {path.resolve()})")
            paths.append(path)
    return paths


def _all_texts(recipe: Recipe, run_dir: Path) -> Iterator[str]:
    """Every text of every stage's data, general pre-training and replay text included: the tokenizer's corpus."""
    general = [*(recipe.embedded.general_pretrain.data if recipe.embedded.general_pretrain else [])]
    general += recipe.stages.cpt.replay_data if recipe.stages.cpt and recipe.stages.cpt.replay else []
    for path in dict.fromkeys(resolve_data(general, run_dir, recipe)):  # each file once
        yield from iter_file(path, "cpt")
    for name, stage in recipe.enabled_stages():
        if name == "grpo":  # problems restate knowledge-base terms the other stages' texts hold; the demo's
            continue  # tokenizer, and so every stage before GRPO, stays what it is without the stage
        for path in resolve_data(stage.data, run_dir, recipe):
            if name in VL_STAGES:
                from qilin.data.vision.formats import read_vl_file

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


def _is_current(manifest: Manifest, name: str, fingerprint: str, out: Path) -> bool:
    record = manifest.stage(name)
    return record.get("fingerprint") == fingerprint and record.get("status") == "complete" and out.exists()


def base_model(recipe: Recipe, run_dir: Path, manifest: Manifest) -> tuple[Path, str]:
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
    fingerprint = digest({"embedded": to_dict(recipe.embedded), "corpus": digest(texts)})
    out = run_dir / BASE / "model"
    if not _is_current(manifest, BASE, fingerprint, out):
        log.info("building the embedded base model (tokenizer trained on the bundled corpus, tiny Llama)")
        out.parent.mkdir(parents=True, exist_ok=True)
        metrics = {}
        if recipe.embedded.general_pretrain is None:
            build_embedded_model(recipe.embedded, texts, out)
        else:
            metrics = _general_base(recipe, run_dir, fingerprint, texts, out)
        manifest.update(
            BASE, status="complete", fingerprint=fingerprint, output=str(out.relative_to(run_dir)), metrics=metrics
        )
    return out, fingerprint


def _general_base(recipe: Recipe, run_dir: Path, fingerprint: str, texts: list[str], out: Path) -> dict[str, Any]:
    """Write the embedded base pre-trained on general text (cached) to `out`; returns the manifest's base metrics."""
    import shutil

    from qilin.durable import replace_dir_atomic
    from qilin.models.embedded import build_embedded_model
    from qilin.pipeline.general_base import general_base_key, pretrain_general

    settings = recipe.embedded.general_pretrain
    data = resolve_data(settings.data, run_dir, recipe)
    trained, metrics = pretrain_general(
        settings,
        data,
        recipe.model,
        general_base_key(fingerprint, recipe.model),
        lambda initial: build_embedded_model(recipe.embedded, texts, initial),
    )
    replace_dir_atomic(out, lambda tmp: shutil.copytree(trained, tmp, dirs_exist_ok=True))
    keys = ("first_loss", "last_loss", "steps", "train_seconds", "pretrain_seconds", "cached")
    return {k: metrics[k] for k in keys if k in metrics}


def vision_tower(recipe: Recipe, run_dir: Path, manifest: Manifest) -> tuple[Path, str]:
    """(path, fingerprint) of the vision tower: the recipe's, or the demo ViT pre-trained here once."""
    if recipe.vision.path != "embedded":
        path = Path(recipe.vision.path).expanduser()
        from qilin.models.loading import check_model_dir

        check_model_dir(path)
        return path, model_dir_fingerprint(path)
    from qilin.training.vit_pretrain import pretrain_tiny_vit

    settings = recipe.embedded_vision
    records_path = resolve_data([EMBEDDED_PREFIX + "vl-pretrain"], run_dir, recipe)[0]
    fingerprint = digest({"vision": to_dict(settings), "images": file_sha256(records_path)})
    out = run_dir / "vision" / "model"
    if not _is_current(manifest, "vision", fingerprint, out):
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


def rag_index(recipe: Recipe, run_dir: Path) -> Path:
    """The BM25 index over the recipe's RAG corpus, built once per corpus content."""
    from qilin.rag.index import build_index

    corpus = resolve_data(recipe.eval.rag, run_dir, recipe)
    out = run_dir / "rag" / "index"
    stamp = out.parent / "corpus.sha256"
    corpus_digest = digest([file_sha256(p) for p in corpus])
    if not (out / "index.json").exists() or not stamp.exists() or stamp.read_text() != corpus_digest:
        log.info(f"building the RAG index over {', '.join(map(str, corpus))}")
        out.parent.mkdir(parents=True, exist_ok=True)
        build_index(corpus, out)
        stamp.write_text(corpus_digest)
    return out


def shared_base(base_run: Path, run_dir: Path, manifest: Manifest) -> tuple[Path, str]:
    """(path, fingerprint) of another run's base model, with its evaluation, recorded in this run's manifest.

    Ablation variants start from the full recipe's base model: an embedded one built for a variant would have a
    tokenizer trained on fewer texts, so no stage output could be shared between variants.
    """
    source = Manifest(base_run, "")
    record = source.stage(BASE)
    if record.get("status") not in ("complete", "given"):
        raise FileNotFoundError(f"{source.path}: no finished base model to share (run the full recipe first)")
    path = Path(record["output"])
    path = path if path.is_absolute() else (base_run / path).resolve()
    answers = base_run / "eval" / f"{BASE}.json"
    if answers.is_file():  # before the manifest records the evaluation, as evaluate_stage does
        write_atomic(run_dir / "eval" / f"{BASE}.json", answers.read_bytes())
    else:  # never an earlier base model's outcomes beside this one's evaluation
        (run_dir / "eval" / f"{BASE}.json").unlink(missing_ok=True)
    manifest.update(BASE, **{**record, "status": "given", "output": str(path), "shared_from": str(base_run)})
    return path, record["fingerprint"]
