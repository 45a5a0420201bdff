"""ChiMed-VL's translation step: English image-text data -> Chinese through an LLM, checked, resumable.

translate_file("pmc_oa.jsonl", "chimed_vl/", "http://127.0.0.1:8000/v1", "qwen2-72b-instruct", glossary="terms.csv")

Qilin-Med-VL built ChiMed-VL by translating PMC-OA and PMC-CaseReport into Chinese with an LLM and having experts
check samples. Every text segment of an item (caption, case, question, answer) is translated on its own, with the
glossary terms it uses put into the prompt. Each result is appended to a cache on disk and fsynced before the next
step, keyed by sha256 of (text, target language, model, prompt version, glossary terms used): a rerun costs no
requests for what is done, and a killed run resumes where it stopped. Items that fail after all retries go to
failures.jsonl (id, error, attempts) and are counted. An endpoint that refuses every request (401, 403, 404: a
wrong key, URL or model) stops the run at once with EndpointRefused; the cache keeps what was done. Otherwise:

  OUT/captions.jsonl       caption items   {"id", "image", "caption"}          (qilin data check --kind caption)
  OUT/conversations.json   QA items        [{"id", "image", "conversations"}]  (qilin data check --kind vl)
  OUT/flags.jsonl          every written item: its source segments, translation and check flags (review reads it)
  OUT/failures.jsonl, OUT/summary.json, OUT/cache.jsonl
Image paths are written as the source gives them; they resolve against the source's image folder (summary.json).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qilin.curation.checks import check_translation
from qilin.curation.glossary import Glossary, load_glossary
from qilin.curation.llm_client import ChatClient, RequestFailed, RetryPolicy
from qilin.curation.sources import IMAGE_TOKEN, SourceItem, conversation_turns, read_source
from qilin.durable import append_jsonl, read_jsonl_log, write_atomic

# Part of every cache key: change it whenever the prompt changes, so translations made with an older prompt are
# not reused.
PROMPT_VERSION = "medical-v1"
LANGUAGES = {"zh": "Simplified Chinese", "en": "English"}
OUTPUT_FILES = {"caption": "captions.jsonl", "conversation": "conversations.json"}


def translation_messages(text: str, target: str, terms: dict[str, str]) -> list[dict[str, str]]:
    """The chat request that translates `text` into `target`, fixing the glossary `terms` it uses."""
    source = "Chinese" if target == "en" else "English"
    system = (
        f"You are a professional medical translator. Translate the user's {source} medical text into "
        f"{LANGUAGES[target]}. Reply with the translation only, without notes or quotes. Keep every number, unit "
        "and abbreviation (CT, MRI, HE) as written, and keep left and right exactly as the text says."
    )
    if terms:
        system += " Translate these terms exactly so:\n" + "\n".join(f"{en} -> {zh}" for en, zh in terms.items())
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def cache_key(text: str, target: str, model: str, terms: dict[str, str]) -> str:
    """sha256 of everything that decides a translation: text, target, model, prompt version, glossary terms used."""
    payload = json.dumps([text, target, model, PROMPT_VERSION, sorted(terms.items())], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class TranslationCache:
    """Finished translations by cache key, loaded from and appended (fsynced) to a JSONL file."""

    def __init__(self, path: Path):
        self.path = path
        self.entries = {row["key"]: row["translation"] for row in read_jsonl_log(path) if "key" in row}

    def get(self, key: str) -> str | None:
        """The cached translation, or None."""
        return self.entries.get(key)

    def put(self, key: str, source: str, target: str, translation: str) -> None:
        """Record a translation on disk before it is used (a kill after this call loses nothing)."""
        append_jsonl(self.path, {"key": key, "target": target, "source": source, "translation": translation})
        self.entries[key] = translation


class Translator:
    """One text at a time: from the cache, or from the endpoint once even when many items ask for it together."""

    def __init__(self, client: ChatClient, cache: TranslationCache, glossary: Glossary):
        self.client, self.cache, self.glossary = client, cache, glossary
        self.cache_hits = self.new = 0
        self._pending: dict[str, asyncio.Task[str]] = {}

    async def translate(self, text: str, target: str) -> str:
        """`text` in `target` ("zh", or "en" for back-translation, which gets no glossary)."""
        terms = self.glossary.terms_in(text) if target != "en" else {}
        key = cache_key(text, target, self.client.model, terms)
        if (cached := self.cache.get(key)) is not None:
            self.cache_hits += 1
            return cached
        # Repeated questions ("What modality is this?") arrive from many items at once; one request serves all.
        if key not in self._pending:
            self._pending[key] = asyncio.ensure_future(self._fetch(key, text, target, terms))
            self._pending[key].add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(self._pending[key])

    async def cancel_pending(self) -> None:
        """Cancel the requests still in flight (the run is ending on an error) and wait until they are gone."""
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fetch(self, key: str, text: str, target: str, terms: dict[str, str]) -> str:
        reply = await self.client.complete(translation_messages(text, target, terms))
        # Sources have their `<image>` taken out; one the model adds would give the record a second image.
        translation = reply.replace(IMAGE_TOKEN, " ").strip()
        if not translation:  # an empty caption or turn is refused by the VL readers; at temperature 0 it would recur
            raise RequestFailed("the model returned an empty translation", 1)
        self.cache.put(key, text, target, translation)
        self.new += 1
        return translation


@dataclass
class TranslatedItem:
    """A source item with its translated segments and the flags the checks gave them."""

    item: SourceItem
    translation: list[str]
    flags: list[dict[str, Any]] = field(default_factory=list)
    back_translation: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """One line of flags.jsonl."""
        row = {**self.item.to_dict(), "translation": self.translation, "flags": self.flags}
        if self.back_translation is not None:
            row["back_translation"] = self.back_translation
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> TranslatedItem:
        """The inverse of `to_dict`."""
        return cls(SourceItem.from_dict(row), row["translation"], row.get("flags", []), row.get("back_translation"))


def output_record(result: TranslatedItem) -> dict[str, Any]:
    """The record a VL reader takes: {"id", "image", "caption"} or {"id", "image", "conversations"}."""
    item = result.item
    if item.kind == "caption":
        return {"id": item.id, "image": item.image, "caption": "\n".join(result.translation)}
    return {"id": item.id, "image": item.image, "conversations": conversation_turns(item.segments, result.translation)}


def write_dataset(results: list[TranslatedItem], out_dir: Path) -> dict[str, Path]:
    """Write captions.jsonl and/or conversations.json (atomically), removing one left by an earlier run if now empty."""
    written = {}
    for kind, name in OUTPUT_FILES.items():
        records = [output_record(r) for r in results if r.item.kind == kind]
        path = out_dir / name
        if not records:
            path.unlink(missing_ok=True)
            continue
        if kind == "caption":
            write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        else:
            write_atomic(path, json.dumps(records, ensure_ascii=False, indent=1) + "\n")
        written[kind] = path
    return written


def read_translations(out_dir: Path) -> list[TranslatedItem]:
    """The items of a translation output directory, from its flags.jsonl."""
    path = Path(out_dir) / "flags.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; is {out_dir} the --out directory of `qilin data translate`?")
    with path.open(encoding="utf-8") as f:
        return [TranslatedItem.from_dict(json.loads(line)) for line in f if line.strip()]


async def _translate_item(item: SourceItem, translator: Translator, back_translate: bool) -> TranslatedItem:
    texts = await asyncio.gather(*(translator.translate(s.text, "zh") for s in item.segments), return_exceptions=True)
    if errors := [t for t in texts if isinstance(t, BaseException)]:
        raise errors[0]
    flags = []
    back: list[str] | None = None
    if back_translate:
        answers = await asyncio.gather(*(translator.translate(t, "en") for t in texts), return_exceptions=True)
        back = ["" if isinstance(a, BaseException) else a for a in answers]
        for i, answer in enumerate(answers):
            if isinstance(answer, RequestFailed):  # the translation itself is fine; a reviewer should look at it
                detail = f"back-translation failed: {answer}"
                flags.append(
                    {"segment": i, "role": item.segments[i].role, "name": "back_translation", "detail": detail}
                )
            elif isinstance(answer, BaseException):
                raise answer
    for i, (segment, text) in enumerate(zip(item.segments, texts, strict=True)):
        back_text = back[i] if back and back[i] else None
        for flag in check_translation(segment.text, text, translator.glossary, back_text):
            flags.append({"segment": i, "role": segment.role, "name": flag.name, "detail": flag.detail})
    return TranslatedItem(item, list(texts), flags, back)


async def translate_items(
    items: list[SourceItem],
    translator: Translator,
    failures_path: Path,
    back_translate: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[TranslatedItem]:
    """Translate and check every item, `concurrency` requests at a time; failed items go to `failures_path`."""
    results: list[TranslatedItem | None] = [None] * len(items)
    queue = iter(enumerate(items))
    done = 0

    async def worker() -> None:
        nonlocal done
        for i, item in queue:  # one shared iterator: each item is taken by exactly one worker
            try:
                results[i] = await _translate_item(item, translator, back_translate)
            except RequestFailed as e:
                append_jsonl(
                    failures_path, {"id": item.id, "where": item.where, "error": e.error, "attempts": e.attempts}
                )
            done += 1
            if progress:
                progress(done, len(items))

    # Twice as many workers as open requests, so the next item's request is ready when one finishes.
    n_workers = max(1, min(len(items), 2 * translator.client.concurrency))
    workers = [asyncio.ensure_future(worker()) for _ in range(n_workers)]
    try:
        await asyncio.gather(*workers)
    finally:  # after an error that ends the run (EndpointRefused), the other workers stop too
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await translator.cancel_pending()
    return [r for r in results if r is not None]


def translate_file(
    source: str | Path,
    out_dir: str | Path,
    endpoint: str,
    model: str,
    *,
    api_key: str | None = None,
    fmt: str = "auto",
    fields: dict[str, str] | None = None,
    glossary: str | Path | None = None,
    images: str | Path | None = None,
    concurrency: int = 4,
    policy: RetryPolicy | None = None,
    back_translate: bool = False,
    cache: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Translate a source file into `out_dir` (see the module docstring); returns the summary it also writes.

    Raises EndpointRefused when the endpoint refuses the requests (a wrong key, URL or model).
    """
    source, out_dir = Path(source), Path(out_dir)
    format_name, items = read_source(source, fmt, fields)
    terms = load_glossary(glossary)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures_path = out_dir / "failures.jsonl"
    failures_path.unlink(missing_ok=True)  # this run's failures only; failed items are tried again on a rerun

    async def run() -> tuple[list[TranslatedItem], Translator]:
        client = ChatClient(endpoint, model, api_key, concurrency, policy)
        translator = Translator(client, TranslationCache(Path(cache) if cache else out_dir / "cache.jsonl"), terms)
        try:
            return await translate_items(items, translator, failures_path, back_translate, progress), translator
        finally:
            await client.aclose()

    results, translator = asyncio.run(run())
    outputs = write_dataset(results, out_dir)
    write_atomic(out_dir / "flags.jsonl", "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results))
    flag_counts = Counter(name for r in results for name in {f["name"] for f in r.flags})
    summary = {
        "source": str(source),
        "format": format_name,
        "images": str(Path(images).resolve() if images else source.resolve().parent),
        "model": model,
        "prompt_version": PROMPT_VERSION,
        "items": len(items),
        "translated": len(results),
        "failed": len(items) - len(results),
        "segments": sum(len(i.segments) for i in items),
        "new_translations": translator.new,
        "cache_hits": translator.cache_hits,
        "requests": translator.client.stats.requests,
        "retries": translator.client.stats.retries,
        "flagged_items": sum(1 for r in results if r.flags),
        "flags": dict(sorted(flag_counts.items())),
        "outputs": {kind: str(path) for kind, path in outputs.items()},
    }
    write_atomic(out_dir / "summary.json", json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    return summary
