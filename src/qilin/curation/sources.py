"""English image-text sources for ChiMed-VL, each a small named reader, read into one normal form.

Normal form: a `SourceItem` (id, image, kind "caption" | "conversation", segments). A segment is one piece of text
translated on its own: the caption, a case description, a question, an answer. `<image>` tokens are taken out of
the text before translation (an LLM may translate, move or drop them) and put back in front of the first human
turn when the output is written, where the VL readers look for it.

A record that does not fit raises DataError naming the file, the line (or record number of a .json list) and the
field.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qilin.chat_templates import IMAGE_TOKEN
from qilin.config import ConfigError
from qilin.data.records import DataError, iter_json_records, require_field
from qilin.data.text.formats import read_sharegpt

_ROLES = {"user": "human", "assistant": "gpt", "system": "system"}


@dataclass
class Segment:
    """One text to translate: its speaker (caption, human, gpt, system) and whether `<image>` went with it."""

    role: str
    text: str
    image: bool = False


@dataclass
class SourceItem:
    """One image with its caption or its conversation, in the order the source file gives them."""

    id: str
    image: str
    kind: str
    segments: list[Segment]
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceItem:
        """The inverse of `to_dict`."""
        segments = [Segment(**s) for s in data["segments"]]
        return cls(data["id"], data["image"], data["kind"], segments, data.get("where", ""))


def _take_image_token(text: str) -> tuple[str, bool]:
    if IMAGE_TOKEN not in text:
        return text, False
    return re.sub(rf"[ \t]*{re.escape(IMAGE_TOKEN)}[ \t]*\n?", " ", text).strip(), True


def conversation_turns(segments: list[Segment], texts: list[str]) -> list[dict[str, str]]:
    """LLaVA turns from segments and their (translated) texts: same-speaker runs joined, `<image>` put back.

    `<image>` goes before the segment it came with, or before the first human turn when the source had none
    (qilin.data.vision.formats does the same when it reads such a record; writing it keeps the file explicit).
    """
    with_image = next((i for i, s in enumerate(segments) if s.image), None)
    if with_image is None:
        with_image = next(i for i, s in enumerate(segments) if s.role == "human")
    turns: list[dict[str, str]] = []
    for i, (segment, text) in enumerate(zip(segments, texts, strict=True)):
        text = f"{IMAGE_TOKEN}\n{text}" if i == with_image else text
        if turns and turns[-1]["from"] == segment.role:
            turns[-1]["value"] += "\n" + text
        else:
            turns.append({"from": segment.role, "value": text})
    return turns


# --- named formats -----------------------------------------------------------------------------------


def read_pmc_oa(record: Any) -> tuple[str, str, list[Segment]]:
    """{"image": "PMC212319_Fig3_4.jpg", "caption": "Axial CT shows a 3 cm mass in the left kidney."}
    -> a caption item with one segment, the caption (PMC-OA, JSONL)."""
    text, _ = _take_image_token(require_field(record, "caption"))
    return require_field(record, "image"), "caption", [Segment("caption", text)]


def read_case_report(record: Any) -> tuple[str, str, list[Segment]]:
    """{"image": "PMC8_fig1.jpg", "context": "A 45-year-old man ...", "question": "What does CT show?", "answer": "..."}
    -> a conversation: human = case (`context` or `case`, optional) + question, gpt = answer (PMC-CaseReport)."""
    image = require_field(record, "image")  # first: it also refuses a record that is not an object
    segments = []
    case_key = "context" if "context" in record else "case"
    if case_key in record:
        segments.append(Segment("human", _take_image_token(require_field(record, case_key))[0], image=True))
    question, _ = _take_image_token(require_field(record, "question"))
    segments.append(Segment("human", question, image=not segments))
    segments.append(Segment("gpt", require_field(record, "answer")))
    return image, "conversation", segments


def read_llava_med(record: Any) -> tuple[str, str, list[Segment]]:
    """{"id": "p1", "image": "f.jpg", "conversations": [{"from": "human", "value": "<image>\\nWhat is shown?"},
    {"from": "gpt", "value": "A chest X-ray."}]} -> a conversation, one segment per turn (LLaVA-Med JSON)."""
    segments = []
    for message in read_sharegpt(record):
        text, had_image = _take_image_token(message["content"])
        segments.append(Segment(_ROLES[message["role"]], text, had_image))
    return require_field(record, "image"), "conversation", segments


GENERIC_ROLES = ("id", "image", "text", "context", "question", "answer")


def parse_fields(spec: str) -> dict[str, str]:
    """`image=img_path,text=caption` -> {"image": "img_path", "text": "caption"}; refuses unknown roles."""
    fields = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        role, sep, name = part.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--fields: {part!r} is not ROLE=COLUMN (e.g. image=img_path,text=caption)")
        if role.strip() not in GENERIC_ROLES:
            raise ConfigError(f"--fields: unknown role {role.strip()!r}; roles are {', '.join(GENERIC_ROLES)}")
        fields[role.strip()] = name.strip()
    if "image" not in fields or not ("text" in fields or {"question", "answer"} <= fields.keys()):
        raise ConfigError("--fields needs image= and either text= (captions) or question= and answer= (QA)")
    return fields


def generic_reader(fields: dict[str, str]) -> Callable[[Any], tuple[str, str, list[Segment]]]:
    """A reader for CSV/JSONL whose columns `fields` names (roles: id, image, text, context, question, answer)."""

    def read_generic(record: Any) -> tuple[str, str, list[Segment]]:
        """{"img_path": "a.png", "caption": "Chest X-ray, PA view."}  with --fields image=img_path,text=caption
        -> a caption item; with question=/answer= (and optional context=) a one-exchange conversation."""
        image = require_field(record, fields["image"])
        if "text" in fields:
            return image, "caption", [Segment("caption", _take_image_token(require_field(record, fields["text"]))[0])]
        renamed = {role: record[name] for role, name in fields.items() if name in record}
        if not str(renamed.get("context", "x")).strip():
            del renamed["context"]  # an empty case cell: the question stands alone
        try:
            return read_case_report(renamed)
        except ValueError as e:  # name the user's column, not the role
            message = str(e)
            for role, name in fields.items():
                message = message.replace(f"'{role}'", f"'{name}'")
            raise ValueError(message) from None

    return read_generic


@dataclass(frozen=True)
class SourceFormat:
    """A named source format: the fields that identify it, and the reader for one record."""

    name: str
    keys: tuple[str, ...]
    read: Callable[[Any], tuple[str, str, list[Segment]]]
    example: str = field(repr=False)


def _fmt(name: str, keys: tuple[str, ...], read: Callable[[Any], Any]) -> SourceFormat:
    return SourceFormat(name, keys, read, (read.__doc__ or "").strip())


# The first format whose keys a record has is chosen: LLaVA-Med and case reports may also carry a caption.
SOURCE_FORMATS: tuple[SourceFormat, ...] = (
    _fmt("llava-med", ("image", "conversations"), read_llava_med),
    _fmt("case-report", ("image", "question", "answer"), read_case_report),
    _fmt("pmc-oa", ("image", "caption"), read_pmc_oa),
)
FORMAT_NAMES = ("auto", *(f.name for f in SOURCE_FORMATS), "generic")


def detect_source_format(record: Any, path: Path, where: str) -> SourceFormat:
    """The format whose identifying fields the record has; DataError naming the options when none fits."""
    if isinstance(record, dict):
        for fmt in SOURCE_FORMATS:
            if all(k in record for k in fmt.keys):
                return fmt
    keys = ", ".join(record) if isinstance(record, dict) else type(record).__name__
    options = "; ".join(f"{f.name} ({', '.join(f.keys)})" for f in SOURCE_FORMATS)
    raise DataError(
        path, where, f"no source format matches the fields [{keys}]; expected one of: {options}, or give --fields"
    )


def _iter_raw(path: Path) -> Iterator[tuple[str, Any]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            for row in reader:
                yield f"line {reader.line_num}", {k: v for k, v in row.items() if k is not None and v is not None}
        return
    if path.suffix not in (".jsonl", ".json"):
        raise DataError(path, "", f"unsupported file type {path.suffix!r}; expected .jsonl, .json or .csv")
    for where, obj in iter_json_records(path):
        if isinstance(obj, DataError):
            raise obj
        yield where, obj


def read_source(
    path: str | Path, fmt: str = "auto", fields: dict[str, str] | None = None
) -> tuple[str, list[SourceItem]]:
    """(format name, items) of a source file; `fields` selects the generic reader. Ids must be unique."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "", "file not found")
    if fmt not in FORMAT_NAMES:
        raise ConfigError(f"--format must be one of {', '.join(FORMAT_NAMES)}, got {fmt!r}")
    if fields and fmt not in ("auto", "generic"):
        raise ConfigError(f"--fields describes the generic format; it does not go with --format {fmt}")
    if fmt == "generic" and not fields:
        raise ConfigError("--format generic needs --fields, e.g. --fields image=img_path,text=caption")
    chosen: SourceFormat | None = None
    if fields:
        chosen = _fmt("generic", tuple(fields.values()), generic_reader(fields))
    elif fmt != "auto":
        chosen = next(f for f in SOURCE_FORMATS if f.name == fmt)
    items: list[SourceItem] = []
    seen: dict[str, str] = {}
    for n, (where, record) in enumerate(_iter_raw(path), 1):
        chosen = chosen or detect_source_format(record, path, where)
        try:
            image, kind, segments = chosen.read(record)
            id_key = fields.get("id", "id") if fields else "id"
            raw_id = record.get(id_key) if isinstance(record, dict) else None
            item_id = str(raw_id) if isinstance(raw_id, (str, int)) and str(raw_id) else f"{path.stem}-{n}"
        except ValueError as e:
            raise e if isinstance(e, DataError) else DataError(path, where, str(e)) from None
        if item_id in seen:
            raise DataError(path, where, f"field 'id': {item_id!r} already used at {seen[item_id]}")
        seen[item_id] = where
        items.append(SourceItem(item_id, image, kind, segments, where))
    if not items:
        raise DataError(path, "", "file holds no records")
    return chosen.name, items
