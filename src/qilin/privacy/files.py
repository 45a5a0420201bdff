"""De-identify whole data files: every text field of CPT, SFT, DPO and VL files, structure and file names kept.

    report = deid_files([Path("notes.txt"), Path("sft.jsonl")], Path("clean/"))   # clean/notes.txt, clean/sft.jsonl
    report = scan_file(Path("clean/sft.jsonl"))                                     # what PHI is left, per type

One record is a JSON record (a .jsonl line, an element of a .json array), a CSV row (PMC-VQA), a line of a
one-document-per-line .txt corpus or a blank-line-separated block of one with paragraphs. Every string in a record
is a text field, except the ones that name things rather than say them (image paths, roles), so the output
reads with the same reader as the input and its images still resolve.

The report (PhiReport, deid_report.json) counts what was found per type and shows a few examples in context with the
value itself masked: the words around a hit (the hit between « », starred but for its first and last character;
any other PHI in the window starred too), so a reviewer can tell a wrong mask (患者«高*»血症) from a right one.
"""

from __future__ import annotations

import csv
import io
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qilin.data.records import DataError, iter_json_records, text_layout
from qilin.durable import open_atomic, write_atomic
from qilin.privacy.parallel import deid_records
from qilin.privacy.spans import TYPES, Span

_EXAMPLES = 5
_CONTEXT = 12  # characters shown on each side of a hit


def mask_value(value: str) -> str:
    """`value` with all but its first (and, past 4 characters, last) character starred: 王小明 -> 王**."""
    if len(value) <= 4:
        return value[0] + "*" * (len(value) - 1)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def in_context(text: str, spans: list[Span], hit: Span) -> str:
    """The words around `hit` in `text`, the hit shown as «王**» and every other span in the window starred."""
    lo, hi = max(0, hit.start - _CONTEXT), min(len(text), hit.end + _CONTEXT)
    out, pos = [], lo
    for span in spans:
        if span.end <= lo or span.start >= hi:
            continue
        start, end = max(span.start, lo), min(span.end, hi)
        out.append(text[pos:start])
        out.append(f"«{mask_value(span.value)}»" if span is hit else "*" * (end - start))
        pos = end
    out.append(text[pos:hi])
    body = "".join(out).replace("\n", " ")
    return ("…" if lo else "") + body + ("…" if hi < len(text) else "")


@dataclass
class PhiReport:
    """Counts of PHI spans per type over files, records and fields, with masked examples."""

    files: list[str] = field(default_factory=list)
    records: int = 0
    records_with_phi: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TYPES, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TYPES})

    def add(self, spans_per_text: list[list[Span]], texts: list[str] | None = None) -> None:
        """Count one record's spans (a list per text field); `texts` (the original fields) give examples context."""
        self.records += 1
        self.records_with_phi += any(spans_per_text)
        for i, spans in enumerate(spans_per_text):
            for span in spans:
                self.counts[span.type] += 1
                if len(self.examples[span.type]) >= _EXAMPLES:
                    continue
                example = in_context(texts[i], spans, span) if texts else mask_value(span.value)
                if example not in self.examples[span.type]:
                    self.examples[span.type].append(example)

    @property
    def total(self) -> int:
        """Spans of every type."""
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        """The report as written to deid_report.json."""
        return {
            "files": self.files,
            "records": self.records,
            "records_with_phi": self.records_with_phi,
            "types": {t: {"count": self.counts[t], "examples": self.examples[t]} for t in TYPES},
        }

    def table(self) -> str:
        """One line per type found: count and masked examples."""
        lines = [f"{self.records_with_phi} of {self.records} records hold PHI; {self.total} values"]
        lines += [f"  {t:<8} {n:>6}  {' | '.join(self.examples[t])}" for t, n in self.counts.items() if n]
        return "\n".join(lines)


# Fields that hold a file name or a speaker, never free text: left as they are.
KEPT_FIELDS = frozenset({"image", "images", "image_path", "Figure_path", "role", "from"})
SUFFIXES = (".txt", ".md", ".jsonl", ".json", ".csv")

Record = tuple[list[str], Callable[[list[str]], str]]


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


def _json_texts(obj: Any) -> list[str]:
    texts: list[str] = []
    _strings(obj, texts)
    return texts


def _paragraph(block: list[str]) -> Record:
    ends = [b[len(b.rstrip("\r\n")) :] for b in block]
    return [b.rstrip("\r\n") for b in block], lambda new: "".join(n + e for n, e in zip(new, ends, strict=True))


def _text_records(path: Path) -> Iterator[Record]:
    paragraphs = text_layout(path) == "paragraphs"
    block: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as f:  # a BOM never reaches the de-identified copy
        for line in f:
            body = line.rstrip("\r\n")
            if body.strip() and paragraphs:
                block.append(line)
                continue
            if block:  # a paragraph ends: its lines are one record
                yield _paragraph(block)
                block = []
            tail = line[len(body) :]
            if body.strip():
                yield [body], lambda new, tail=tail: new[0] + tail
            else:
                yield [], lambda new, line=line: line
    if block:
        yield _paragraph(block)


def _csv_records(path: Path) -> Iterator[Record]:
    def row_text(row: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        return buf.getvalue()

    with path.open(encoding="utf-8-sig", newline="") as f:  # a BOM never reaches the de-identified copy
        reader = csv.reader(f)
        header = next(reader, [])
        yield [], lambda new: row_text(header) if header else ""
        kept = {i for i, name in enumerate(header) if name in KEPT_FIELDS}
        for row in reader:
            free = [i for i in range(len(row)) if i not in kept]

            def render(new: list[str], row: list[str] = row, free: list[int] = free) -> str:
                row = list(row)
                for i, value in zip(free, new, strict=True):
                    row[i] = value
                return row_text(row)

            yield [row[i] for i in free], render


def _records(path: Path) -> Iterator[Record]:
    """Each record of `path` as (its texts, a function from their new texts to the record's output text)."""
    if path.suffix in (".txt", ".md"):
        yield from _text_records(path)
    elif path.suffix == ".jsonl":
        for where, obj in iter_json_records(path):
            if isinstance(obj, DataError):
                raise DataError(path, where, obj.message)
            yield (
                _json_texts(obj),
                lambda new, obj=obj: json.dumps(_put_strings(obj, iter(new)), ensure_ascii=False) + "\n",
            )
    elif path.suffix == ".json":
        rows: list[Any] = []
        for _, obj in iter_json_records(path):
            if isinstance(obj, DataError):
                raise obj
            yield _json_texts(obj), lambda new, obj=obj: rows.append(_put_strings(obj, iter(new))) or ""
        yield [], lambda new: json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    elif path.suffix == ".csv":
        yield from _csv_records(path)
    else:
        raise DataError(path, "", f"unsupported file type {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")


def _rewrite(path: Path, out, report: PhiReport, surrogates: bool, workers: int | None) -> None:
    """Stream `path` record by record through the detector into `out` (a text file, or None to only scan)."""
    records: deque[Record] = deque()

    def texts_of_records() -> Iterator[list[str]]:
        for record in _records(path):
            records.append(record)
            yield record[0]

    for new, spans in deid_records(texts_of_records(), surrogates, write=out is not None, workers=workers):
        texts, render = records.popleft()
        if spans:  # a blank line or a CSV header is no record
            report.add(spans, texts)
        if out is not None:
            out.write(render(new))


def _check_input(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "", "file not found")
    if path.suffix not in SUFFIXES:
        raise DataError(path, "", f"unsupported file type {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")


def deid_files(paths: list[Path], out_dir: Path, surrogates: bool = False, workers: int | None = None) -> PhiReport:
    """Write each file de-identified under `out_dir` with its own name; report what was replaced.

    `workers`: processes for large files (default: every core this process may use; 1: this process only).
    """
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
            _rewrite(path, out, report, surrogates, workers)
        report.files.append(str(path))
    write_atomic(out_dir / "deid_report.json", json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")
    return report


def scan_file(path: Path, workers: int | None = None) -> PhiReport:
    """Count the PHI left in a file, per type, without writing anything (the very detector `deid_files` runs)."""
    _check_input(path)
    report = PhiReport(files=[str(path)])
    _rewrite(path, None, report, False, workers)
    return report


def deid_documents(docs: list[str], report: PhiReport, workers: int | None = None) -> list[str]:
    """CPT documents de-identified, one record each (for `qilin data build`)."""
    out = []
    for doc, (new, spans) in zip(docs, deid_records(([d] for d in docs), workers=workers), strict=True):
        report.add(spans, [doc])
        out.append(new[0])
    return out


def deid_conversations(
    conversations: list[list[dict[str, str]]], report: PhiReport, workers: int | None = None
) -> list[list[dict[str, str]]]:
    """SFT conversations de-identified, one record each: every turn's content, roles kept."""
    out = []
    records = ([m["content"] for m in messages] for messages in conversations)
    for messages, (new, spans) in zip(conversations, deid_records(records, workers=workers), strict=True):
        report.add(spans, [m["content"] for m in messages])
        out.append([{**m, "content": c} for m, c in zip(messages, new, strict=True)])
    return out


def deid_user_data(
    texts: list[str], conversations: list[list[dict[str, str]]]
) -> tuple[list[str], list[list[dict[str, str]]], PhiReport]:
    """A user's own texts and conversations with PHI replaced by placeholders, and the count of what was replaced."""
    report = PhiReport()
    return deid_documents(texts, report), deid_conversations(conversations, report), report
