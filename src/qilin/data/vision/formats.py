"""Vision-language data formats: readers that turn each accepted file into image paths and conversations.

Formats (each record becomes an image path and a conversation whose first user turn holds `<image>`):
- vl (LLaVA-style JSON/JSONL):
  {"image": "scan1.png",
   "conversations": [{"from": "human", "value": "<image>\\n病灶在哪侧？"}, {"from": "gpt", "value": "右侧"}]}
- caption (image-caption pairs, for feature alignment):
  {"image": "scan1.png", "caption": "胸部X线片：右肺上野见一结节影。"}
- pmcvqa (PMC-VQA CSV): Figure_path, Question, Answer (older files: Anwser), Choice A..D ("A:Diffuse uptake"),
  Answer_label; trained on as question -> answer text, evaluated as 4-way multiple choice.
Relative image paths resolve against the image folder (`images`, default: the data file's folder).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qilin.chat_templates import IMAGE_TOKEN
from qilin.data.records import DataError, iter_json_records
from qilin.data.text.formats import read_sharegpt
from qilin.data.vision.images import ImageError, load_image

CAPTION_PROMPT = "请描述这张医学影像。"


@dataclass
class VLRecord:
    """One image and a conversation about it."""

    image: Path
    messages: list[dict[str, str]]
    where: str = ""


@dataclass
class ChoiceQuestion:
    """A multiple-choice question about an image (PMC-VQA)."""

    image: Path
    question: str
    choices: dict[str, str]
    answer: str
    annotations: dict[str, str] = field(default_factory=dict)


def _image_path(value: Any, root: Path, path: Path, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise DataError(path, where, "field 'image': expected a file name")
    p = Path(value)
    return p if p.is_absolute() else root / p


def with_image_token(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The conversation with `<image>` first in its first user turn, unless a turn already holds it.

    The one rule for where the image goes when a conversation does not say (a `vl` record without `<image>`, a
    chat request with an image attached), so that training and every inference path see the same layout. The
    messages given are not changed; a copy is returned when the token is added.
    """
    if any(IMAGE_TOKEN in m["content"] for m in messages):
        return messages
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    messages = [dict(m) for m in messages]
    messages[first_user]["content"] = f"{IMAGE_TOKEN}\n{messages[first_user]['content']}"
    return messages


_CHOICE_PREFIX = re.compile(r"^\s*[A-D]\s*[:：.、]\s*")


def read_pmcvqa(path: Path, root: Path) -> list[ChoiceQuestion]:
    """PMC-VQA CSV rows as multiple-choice questions; bad rows name their line and column."""
    questions = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or [])
        answer_column = "Answer" if "Answer" in columns else "Anwser"
        needed = {"Figure_path", "Question", "Answer_label", "Choice A", "Choice B"}
        if not needed <= columns:
            raise DataError(path, "line 1", f"missing column(s) {', '.join(sorted(needed - columns))}")
        for row in reader:
            where = f"line {reader.line_num}"
            choices = {}
            for letter in "ABCD":
                value = (row.get(f"Choice {letter}") or "").strip()
                if value:
                    choices[letter] = _CHOICE_PREFIX.sub("", value).strip()
            label = (row.get("Answer_label") or "").strip().upper()
            if label not in choices:
                raise DataError(path, where, f"column 'Answer_label': {label!r} is not one of {''.join(choices)}")
            extra = {c: row[c] for c in columns - needed - {answer_column} if c.startswith(("Type", "type")) and row[c]}
            questions.append(
                ChoiceQuestion(
                    _image_path(row["Figure_path"], root, path, where),
                    row["Question"].strip(),
                    choices,
                    label,
                    extra,
                )
            )
    if not questions:
        raise DataError(path, "", "no questions")
    return questions


def choice_prompt(q: ChoiceQuestion) -> str:
    """The user turn of a multiple-choice question."""
    options = "\n".join(f"{k}:{v}" for k, v in q.choices.items())
    return f"{IMAGE_TOKEN}\n{q.question}\n{options}"


def detect_vl_format(path: Path, first: Any) -> str:
    """'pmcvqa' for CSV, else 'caption' or 'vl' by the record's fields."""
    if path.suffix == ".csv":
        return "pmcvqa"
    if isinstance(first, dict) and "caption" in first:
        return "caption"
    if isinstance(first, dict) and "conversations" in first:
        return "vl"
    keys = ", ".join(first) if isinstance(first, dict) else type(first).__name__
    raise DataError(path, "record 1", f"no VL format matches the fields [{keys}]; expected caption or conversations")


def read_vl_file(path: str | Path, fmt: str = "auto", images: str | Path | None = None) -> list[VLRecord]:
    """Training records of a VL file in any accepted format."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "", "file not found")
    root = Path(images) if images else path.parent
    if fmt == "pmcvqa" or (fmt == "auto" and path.suffix == ".csv"):
        return [
            VLRecord(
                q.image,
                [{"role": "user", "content": choice_prompt(q)}, {"role": "assistant", "content": q.choices[q.answer]}],
            )
            for q in read_pmcvqa(path, root)
        ]
    records = []
    for where, obj in iter_json_records(path):
        if isinstance(obj, DataError):
            raise obj
        kind = detect_vl_format(path, obj) if fmt == "auto" else fmt
        try:
            image = _image_path(obj.get("image") if isinstance(obj, dict) else None, root, path, where)
            if kind == "caption":
                caption = obj.get("caption")
                if not isinstance(caption, str) or not caption.strip():
                    raise ValueError("field 'caption': expected a non-empty string")
                messages = [
                    {"role": "user", "content": f"{IMAGE_TOKEN}\n{CAPTION_PROMPT}"},
                    {"role": "assistant", "content": caption},
                ]
            else:
                messages = with_image_token(read_sharegpt(obj))
        except ValueError as e:
            raise e if isinstance(e, DataError) else DataError(path, where, str(e)) from None
        records.append(VLRecord(image, messages, where))
    if not records:
        raise DataError(path, "", "no records")
    return records


def check_images(records: list[VLRecord], path: Path, skip_bad: bool) -> tuple[list[VLRecord], int]:
    """Records whose image loads; a bad image stops with the record named, or is skipped and counted."""
    good, bad = [], 0
    for record in records:
        try:
            load_image(record.image)
        except ImageError as e:
            if not skip_bad:
                raise DataError(path, record.where, f"field 'image': {e}") from None
            bad += 1
            continue
        good.append(record)
    return good, bad
