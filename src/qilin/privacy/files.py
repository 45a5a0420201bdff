"""De-identify whole data files: every text field of CPT, SFT, DPO and VL files, structure and file names kept.

    report = deid_files([Path("notes.txt"), Path("sft.jsonl")], Path("clean/"))   # clean/notes.txt, clean/sft.jsonl
    report = scan_file(Path("clean/sft.jsonl"))                                     # what PHI is left, per type

One record is a JSON record (a .jsonl line, an element of a .json array), a CSV row (PMC-VQA), a line of a
one-document-per-line .txt corpus or a blank-line-separated block of one with paragraphs. Every string in a record
is a text field, except the ones that name things rather than say them (image paths, roles), so the output
reads with the same reader as the input and its images still resolve.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qilin.data.records import DataError, iter_json_records, text_layout
from qilin.durable import open_atomic, write_atomic
from qilin.privacy.record import deid_texts, find_record_phi
from qilin.privacy.report import PhiReport

# Fields that hold a file name or a speaker, never free text: left as they are.
KEPT_FIELDS = frozenset({"image", "images", "image_path", "Figure_path", "role", "from"})
SUFFIXES = (".txt", ".md", ".jsonl", ".json", ".csv")

Transform = Callable[[list[str]], list[str]]


def _strings(obj: Any, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, list):
        for item in obj:
            _strings(item, out)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key not in KEPT_FIELDS:
                _strings(value, out)


def _put_strings(obj: Any, new: Iterator[str]) -> Any:
    if isinstance(obj, str):
        return next(new)
    if isinstance(obj, list):
        return [_put_strings(item, new) for item in obj]
    if isinstance(obj, dict):
        return {k: (v if k in KEPT_FIELDS else _put_strings(v, new)) for k, v in obj.items()}
    return obj


def _record_transform(report: PhiReport, surrogates: bool, write: bool) -> Transform:
    """The texts of one record -> their de-identified form (or unchanged when only scanning), counted in `report`."""

    def transform(texts: list[str]) -> list[str]:
        if write:
            new, spans = deid_texts(texts, surrogates=surrogates)
        else:
            new, spans = texts, find_record_phi(texts)
        report.add(spans)
        return new

    return transform


def _json_record(obj: Any, transform: Transform) -> Any:
    texts: list[str] = []
    _strings(obj, texts)
    return _put_strings(obj, iter(transform(texts))) if texts else obj


def _rewrite(path: Path, out, transform: Transform) -> None:
    """Stream `path` record by record through `transform` into `out` (a text file, or None to only scan)."""

    def emit(text: str) -> None:
        if out is not None:
            out.write(text)

    if path.suffix in (".txt", ".md"):
        paragraphs = text_layout(path) == "paragraphs"
        block: list[str] = []
        with path.open(encoding="utf-8-sig", newline="") as f:
            for line in f:
                body = line.rstrip("\r\n")
                if body.strip() and paragraphs:
                    block.append(line)
                    continue
                if block:  # a paragraph ends: its lines are one record
                    ends = [b[len(b.rstrip("\r\n")) :] for b in block]
                    new = transform([b.rstrip("\r\n") for b in block])
                    emit("".join(n + e for n, e in zip(new, ends, strict=True)))
                    block = []
                emit(transform([body])[0] + line[len(body) :] if body.strip() else line)
        if block:
            ends = [b[len(b.rstrip("\r\n")) :] for b in block]
            emit("".join(n + e for n, e in zip(transform([b.rstrip("\r\n") for b in block]), ends, strict=True)))
    elif path.suffix == ".jsonl":
        for where, obj in iter_json_records(path):
            if isinstance(obj, DataError):
                raise DataError(path, where, obj.message)
            emit(json.dumps(_json_record(obj, transform), ensure_ascii=False) + "\n")
    elif path.suffix == ".json":
        rows = []
        for _, obj in iter_json_records(path):
            if isinstance(obj, DataError):
                raise obj
            rows.append(_json_record(obj, transform))
        emit(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    elif path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            writer = csv.writer(out, lineterminator="\n") if out is not None else None
            header = next(reader, [])
            if writer:
                writer.writerow(header)
            kept = {i for i, name in enumerate(header) if name in KEPT_FIELDS}
            for row in reader:
                free = [i for i in range(len(row)) if i not in kept]
                new = transform([row[i] for i in free]) if free else []
                row = list(row)
                for i, value in zip(free, new, strict=True):
                    row[i] = value
                if writer:
                    writer.writerow(row)
    else:
        raise DataError(path, "", f"unsupported file type {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")


def _check_input(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "", "file not found")
    if path.suffix not in SUFFIXES:
        raise DataError(path, "", f"unsupported file type {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")


def deid_files(paths: list[Path], out_dir: Path, surrogates: bool = False) -> PhiReport:
    """Write each file de-identified under `out_dir` with its own name; report what was replaced."""
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise DataError(out_dir, "", f"two inputs share a file name ({', '.join(sorted(names))}); outputs keep names")
    report = PhiReport()
    for path in paths:
        _check_input(path)
        if (out_dir / path.name).resolve() == path.resolve():
            raise DataError(path, "", "--out would overwrite the input; choose another directory")
    for path in paths:
        with open_atomic(out_dir / path.name) as out:
            _rewrite(path, out, _record_transform(report, surrogates, write=True))
        report.files.append(str(path))
    write_atomic(out_dir / "deid_report.json", json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")
    return report


def scan_file(path: Path) -> PhiReport:
    """Count the PHI left in a file, per type, without writing anything."""
    _check_input(path)
    report = PhiReport(files=[str(path)])
    _rewrite(path, None, _record_transform(report, False, write=False))
    return report


def deid_documents(docs: list[str], report: PhiReport) -> list[str]:
    """CPT documents de-identified, one record each (for `qilin data build`)."""
    out = []
    for doc in docs:
        (new,), spans = deid_texts([doc])
        report.add(spans)
        out.append(new)
    return out


def deid_conversations(conversations: list[list[dict[str, str]]], report: PhiReport) -> list[list[dict[str, str]]]:
    """SFT conversations de-identified, one record each: every turn's content, roles kept."""
    out = []
    for messages in conversations:
        new, spans = deid_texts([m["content"] for m in messages])
        report.add(spans)
        out.append([{**m, "content": c} for m, c in zip(messages, new, strict=True)])
    return out
