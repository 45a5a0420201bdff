"""Two answers per question for clinicians to compare: from two models (or stages), or two samples of one.

compare_models("questions.jsonl", ["runs/a/sft/model", "runs/a/dpo/model"], "cmp/")       # A = sft, B = dpo
compare_models("questions.txt", ["runs/a/dpo/model"], "cmp/", samples=2, temperature=0.8)  # A, B = two samples
compare_models("questions.jsonl", ["runs/a/sft/model", "http://gpu:8000/v1"], "cmp/")      # B from a served model

Writes DIR/compare.json (the manifest: where each answer came from, the sampling settings, the seed, the chat
template) and DIR/items.jsonl ({id, source, prompt, A, B}). The prompt is rendered with the model's chat template
(`qilin.models.loading.load_tokenizer`), the template SFT and DPO train with, so the answers are the ones the
model gives in training's format. `qilin data review DIR` shows the pairs blind; `qilin.curation.preferences`
turns the decisions into DPO pairs.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qilin.config import ConfigError, ModelSettings
from qilin.data.records import DataError, iter_json_records, require_field
from qilin.durable import write_atomic
from qilin.hashing import file_sha256
from qilin.log import get_logger

log = get_logger(__name__)

MANIFEST = "compare.json"
ITEMS = "items.jsonl"
LABELS = ("A", "B")
QUESTION_FIELDS = ("question", "prompt")


def is_compare_dir(path: str | Path) -> bool:
    """True when `path` is the output of `qilin data compare` (it holds compare.json)."""
    return (Path(path) / MANIFEST).is_file()


def read_questions(path: str | Path) -> list[tuple[str, str]]:
    """(location, question) from JSONL/JSON records with a `question` or `prompt` string, or text one per line.

    {"question": "高血压挂什么科？"}     (.jsonl, or a .json list of such records)
    高血压挂什么科？                      (.txt or any other suffix: one question per non-empty line)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"questions file {path} not found")
    if path.suffix not in (".jsonl", ".json"):
        with path.open(encoding="utf-8-sig") as f:
            found = [(f"line {n}", line.strip()) for n, line in enumerate(f, 1) if line.strip()]
    else:
        found = []
        for where, record in iter_json_records(path):
            if isinstance(record, DataError):
                raise record
            name = next((k for k in QUESTION_FIELDS if isinstance(record, dict) and k in record), "question")
            try:
                text = require_field(record, name).strip()
            except ValueError as e:
                raise DataError(path, where, f"{e}; a question record needs a 'question' or 'prompt' string") from None
            if not text:
                raise DataError(path, where, f"field '{name}': is blank")
            found.append((where, text))
    if not found:
        raise DataError(path, "", "no questions in the file")
    return found


def is_endpoint(model: str) -> bool:
    """True when an answer source is an OpenAI-compatible endpoint's URL rather than a model directory."""
    return model.startswith(("http://", "https://"))


Source = tuple[str, str | None]  # (model directory or endpoint URL, the model name at the endpoint: None for default)


def _sources(models: list[str], model_names: list[str]) -> list[Source]:
    """Each model with its name at the endpoint: the i-th of `model_names` goes to the i-th endpoint URL."""
    urls = [m for m in models if is_endpoint(m)]
    if len(model_names) > len(urls):
        raise ConfigError(f"{len(model_names)} --model-name for {len(urls)} endpoint(s): one name per endpoint URL")
    names = iter(model_names)
    return [(m, next(names, None) if is_endpoint(m) else None) for m in models]


def _answer_sources(models: list[Source], samples: int, temperature: float) -> list[tuple[Source, int]]:
    """(source, sample number) for answers A and B; refuses settings that cannot give two different answers."""
    if len(models) == 2 and samples == 1:
        return [(models[0], 1), (models[1], 1)]
    if len(models) == 1 and samples == 2:
        if temperature <= 0:
            raise ConfigError("two samples of one model need --temperature > 0 (greedy decoding gives one answer)")
        return [(models[0], 1), (models[0], 2)]
    raise ConfigError(
        f"got {len(models)} model(s) and --samples {samples}: compare two models (--models A B, a directory or an "
        "endpoint each) or two samples of one (--models A --samples 2 --temperature T)"
    )


def _generate_at_endpoint(
    source: Source, prompts: list[list[dict[str, str]]], n: int, sampling: dict[str, Any], api_key: str | None
) -> tuple[list[list[str]], str]:
    """`n` answers per prompt from the model served at an endpoint, and its model name there."""
    from qilin.models.endpoint import Endpoint

    endpoint = Endpoint(source[0], source[1], api_key)
    # A sampled request carries seed + sample - 1, so either answer can be asked for again alone (where the endpoint
    # honours seeds: vLLM and qilin serve do).
    runs = [
        endpoint.replies(prompts, sampling["max_new_tokens"], sampling["temperature"],
                         seed=sampling["seed"] + k if sampling["do_sample"] else None)
        for k in range(n)
    ]  # fmt: skip
    return runs, endpoint.model


def _generate(
    model_dir: str, prompts: list[list[dict[str, str]]], n: int, settings: ModelSettings, sampling: dict[str, Any]
) -> tuple[list[list[str]], str]:
    """`n` answers per prompt from one model (rendered with its chat template), and the template's source."""
    from transformers import set_seed

    from qilin.chat_templates import render_prompt
    from qilin.models.generation import generate_texts
    from qilin.models.loading import for_inference, load_model, load_tokenizer

    tokenizer = load_tokenizer(model_dir, settings)
    model = for_inference(load_model(model_dir, settings))
    texts = [render_prompt(tokenizer, messages) for messages in prompts]
    # Seeded per model, so either answer can be regenerated alone from the manifest; samples continue the stream.
    set_seed(sampling["seed"])
    runs = [
        generate_texts(
            model,
            tokenizer,
            texts,
            max_new_tokens=sampling["max_new_tokens"],
            batch_size=sampling["batch_size"],
            temperature=sampling["temperature"],
        )
        for _ in range(n)
    ]
    return runs, tokenizer.chat_template


def compare_models(
    questions: str | Path,
    models: list[str],
    out_dir: str | Path,
    samples: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 256,
    seed: int = 0,
    batch_size: int = 16,
    settings: ModelSettings | None = None,
    model_names: list[str] | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Generate answers A and B to every question and write DIR/compare.json and DIR/items.jsonl.

    Each of `models` is a model directory or the URL of an OpenAI-compatible endpoint (`qilin serve`, vLLM, a
    gateway) whose model is asked with chat completions, the i-th of `model_names` naming the i-th endpoint's model.
    """
    out_dir = Path(out_dir)
    if max_new_tokens < 1 or batch_size < 1 or temperature < 0:
        raise ConfigError("--max-new-tokens and --batch-size must be >= 1, --temperature >= 0")
    if any(out_dir.glob("review/decisions-*.jsonl")):
        raise ConfigError(f"{out_dir} already holds review decisions; give a new --out so they keep their answers")
    sources = _answer_sources(_sources(list(models), list(model_names or [])), samples, temperature)
    settings = settings or ModelSettings()
    found = read_questions(questions)
    prompts = [[{"role": "user", "content": text}] for _, text in found]
    sampling = {
        "temperature": temperature,
        "do_sample": temperature > 0,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
        "batch_size": batch_size,
    }
    answers: dict[str, list[str]] = {}
    templates: dict[str, str] = {}
    described: dict[Source, dict[str, str]] = {}
    for source in dict.fromkeys(m for m, _ in sources):  # each model loaded (or endpoint opened) once
        labels = [label for label, (m, _) in zip(LABELS, sources, strict=True) if m == source]
        log.info(f"generating {len(prompts)} x {len(labels)} answer(s) with {source[0]}")
        if is_endpoint(source[0]):
            runs, name = _generate_at_endpoint(source, prompts, len(labels), sampling, api_key)
            described[source] = {"model": name, "endpoint": source[0]}
            templates[f"{name} at {source[0]}"] = "the endpoint's own (qilin eval parity checks it is training's)"
        else:
            runs, templates[source[0]] = _generate(source[0], prompts, len(labels), settings, sampling)
            described[source] = {"model": source[0]}
        answers.update(zip(labels, runs, strict=True))
    rows = [
        {"id": f"q{i}", "source": where, "prompt": messages, "A": answers["A"][i - 1], "B": answers["B"][i - 1]}
        for i, ((where, _), messages) in enumerate(zip(found, prompts, strict=True), 1)
    ]
    manifest = {
        "questions": str(questions),
        "questions_sha256": file_sha256(Path(questions)),
        "items": len(rows),
        "answers": {label: {**described[m], "sample": s} for label, (m, s) in zip(LABELS, sources, strict=True)},
        "sampling": sampling,
        "chat_templates": templates,
        "identical_answers": sum(r["A"] == r["B"] for r in rows),
        "empty_answers": sum(not r["A"] or not r["B"] for r in rows),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if manifest["identical_answers"] or manifest["empty_answers"]:
        log.warning(
            f"{manifest['identical_answers']} question(s) got two identical answers and {manifest['empty_answers']} "
            "an empty one: review-apply drops them (DPO learns nothing from them)"
        )
    # Items first, manifest last: a directory with compare.json always has its whole items.jsonl.
    write_atomic(out_dir / ITEMS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
    return manifest


def read_comparison(compare_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest and the items of a compare directory."""
    compare_dir = Path(compare_dir)
    if not is_compare_dir(compare_dir):
        raise FileNotFoundError(f"{compare_dir / MANIFEST} not found; run `qilin data compare` first")
    manifest = json.loads((compare_dir / MANIFEST).read_text(encoding="utf-8"))
    items = []
    for where, row in iter_json_records(compare_dir / ITEMS):
        if isinstance(row, DataError):
            raise row
        if not isinstance(row, dict) or not all(k in row for k in ("id", "prompt", *LABELS)):
            raise DataError(compare_dir / ITEMS, where, "expected {id, prompt, A, B}")
        items.append(row)
    return manifest, items


def sample_items(items: list[dict[str, Any]], sample: int | None, seed: int = 0) -> list[dict[str, Any]]:
    """`sample` of the items in their order (all when None or more than there are); the same seed, the same items."""
    if sample is not None and sample < 1:
        raise ConfigError(f"--sample must be at least 1, got {sample}")
    if sample is None or sample >= len(items):
        return items
    keep = set(random.Random(seed).sample(range(len(items)), sample))
    return [item for i, item in enumerate(items) if i in keep]
