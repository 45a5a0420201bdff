"""What a run starts from: data entries resolved to files, and the embedded defaults built on first use.

- `resolve_data`: local paths, or 'embedded:PART' for a part of the bundled miniature world (qilin.embedded).
- `base_model`: the recipe's model directory, or the tiny embedded Llama (tokenizer trained on the recipe's texts).
- `vision_tower`: the recipe's vision encoder, or the demo ViT pre-trained once on synthetic scans.
- `rag_index`: a retrieval index over the recipe's corpus (eval.rag, stages.sft.rag), built once per content.
Each built asset is recorded in the manifest with a fingerprint, so a rerun with the same inputs reuses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from qilin.config import VL_STAGES, Recipe
from qilin.data.text.formats import iter_file
from qilin.durable import write_atomic
from qilin.embedded.parts import EMBEDDED_PREFIX, PROBLEM_PARTS, embedded_part, is_embedded
from qilin.hashing import digest, file_sha256, model_dir_fingerprint
from qilin.log import get_logger
from qilin.pipeline.manifest import Manifest

log = get_logger(__name__)

BASE = "base"


def resolve_data(entries: list[str], run_dir: Path, recipe: Recipe | None = None) -> list[Path]:
    """Data paths of a stage; 'embedded:PART' names a part of the bundled miniature world (`qilin.embedded`)."""
    paths = []
    for entry in entries:
        if is_embedded(entry):
            paths.append(
                embedded_part(entry[len(EMBEDDED_PREFIX) :], run_dir, recipe.embedded_vision if recipe else None)
            )
            continue
        path = Path(entry).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"data file {entry!r} not found (resolved to {path.resolve()})")
        paths.append(path)
    return paths


def _all_texts(recipe: Recipe, run_dir: Path) -> Iterator[str]:
    """Every text of every stage's data, general pre-training and replay text included: the tokenizer's corpus."""
    general = [*(recipe.general_pretrain.data if recipe.general_pretrain else [])]
    general += recipe.stages.cpt.replay_data if recipe.stages.cpt and recipe.stages.cpt.replay else []
    for path in dict.fromkeys(resolve_data(general, run_dir, recipe)):  # each file once
        yield from iter_file(path, "cpt")
    for name, stage in recipe.enabled_stages():
        if name == "grpo":  # problems restate knowledge-base terms the other stages' texts hold; the demo's
            continue  # tokenizer, and so every stage before GRPO, stays what it is without the stage
        # the problem parts restate knowledge-base terms the other texts hold (as above): SFT on exam-format
        # problems leaves the tokenizer, the base model and DCPT as they are
        kept = [e for e in stage.data if e not in {EMBEDDED_PREFIX + p for p in PROBLEM_PARTS}]
        for path in resolve_data(kept, run_dir, recipe):
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
    from qilin.embedded import base_fingerprint, build_base

    texts = list(_all_texts(recipe, run_dir))
    fingerprint = base_fingerprint(recipe.embedded, recipe.general_pretrain, texts)
    out = run_dir / BASE / "model"
    if not _is_current(manifest, BASE, fingerprint, out):
        general = recipe.general_pretrain
        general_data = resolve_data(general.data, run_dir, recipe) if general else []
        metrics = build_base(recipe.embedded, general, general_data, recipe.model, texts, fingerprint, out)
        manifest.update(
            BASE, status="complete", fingerprint=fingerprint, output=str(out.relative_to(run_dir)), metrics=metrics
        )
    return out, fingerprint


def vision_tower(recipe: Recipe, run_dir: Path, manifest: Manifest) -> tuple[Path, str]:
    """(path, fingerprint) of the vision tower: the recipe's, or the demo ViT pre-trained here once."""
    if recipe.vision.path != "embedded":
        path = Path(recipe.vision.path).expanduser()
        from qilin.models.loading import check_model_dir

        check_model_dir(path)
        return path, model_dir_fingerprint(path)
    from qilin.embedded import build_demo_vit, demo_vit_fingerprint

    records_path = resolve_data([EMBEDDED_PREFIX + "vl-pretrain"], run_dir, recipe)[0]
    fingerprint = demo_vit_fingerprint(recipe.embedded_vision, records_path)
    out = run_dir / "vision" / "model"
    if not _is_current(manifest, "vision", fingerprint, out):
        metrics = build_demo_vit(recipe.embedded_vision, records_path, out)
        manifest.update(
            "vision", status="complete", fingerprint=fingerprint, output=str(out.relative_to(run_dir)), metrics=metrics
        )
    return out, fingerprint


def rag_index(
    recipe: Recipe,
    run_dir: Path,
    corpus: list[str] | None = None,
    name: str = "index",
    embedding_model: Path | None = None,
) -> Path:
    """The index `run_dir/rag/<name>` over `corpus` (default: eval.rag), BM25 or dense with `embedding_model`,
    built once per corpus content and settings."""
    from qilin.rag.index import build_index

    paths = resolve_data(recipe.eval.rag if corpus is None else corpus, run_dir, recipe)
    out = run_dir / "rag" / name
    stamp = out.parent / ("corpus.sha256" if name == "index" else f"{name}.sha256")
    model = model_dir_fingerprint(embedding_model) if embedding_model else None
    corpus_digest = digest([file_sha256(p) for p in paths] + ([model] if model else []))
    if not (out / "index.json").exists() or not stamp.exists() or stamp.read_text() != corpus_digest:
        log.info(f"building the RAG index {name} over {', '.join(map(str, paths))}")
        out.parent.mkdir(parents=True, exist_ok=True)
        build_index(paths, out, kind="dense" if embedding_model else "bm25", embedding_model=embedding_model)
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
