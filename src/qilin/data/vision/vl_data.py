"""Vision-language data: the accepted formats, image checks, and tokenized examples with pixel values.

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

import torch

from qilin.chat_templates import IGNORE_INDEX, IMAGE_TOKEN
from qilin.data.records import DataError, iter_json_records
from qilin.data.text.conversations import tokenize_conversation
from qilin.data.text.formats import read_sharegpt
from qilin.data.text.sft_packing import PackedCollator, pack_conversations
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


def _with_image_token(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Put `<image>` first in the first user turn if the record does not place it itself."""
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
                messages = _with_image_token(read_sharegpt(obj))
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


def expand_image_tokens(ids: list[int], labels: list[int], image_token: int, n: int) -> tuple[list[int], list[int]]:
    """Each image token becomes `n` (one per image feature), never trained on."""
    out_ids, out_labels = [], []
    for token, label in zip(ids, labels, strict=True):
        if token == image_token:
            out_ids += [token] * n
            out_labels += [IGNORE_INDEX] * n
        else:
            out_ids.append(token)
            out_labels.append(label)
    return out_ids, out_labels


class VLDataset(torch.utils.data.Dataset):
    """Tokenized conversations (labels on assistant turns) with their images as pixel values."""

    def __init__(
        self,
        records: list[VLRecord],
        tokenizer: Any,
        processor: Any,
        image_token: int,
        n_image_tokens: int,
        max_length: int,
    ):
        self.items, self.dropped = [], 0
        for record in records:
            ids, labels = tokenize_conversation(tokenizer, record.messages, max_length=1 << 30)
            ids, labels = expand_image_tokens(ids, labels, image_token, n_image_tokens)
            if len(ids) > max_length or ids.count(image_token) != n_image_tokens:
                self.dropped += 1  # truncating would cut an image or its answer
                continue
            self.items.append((record.image, ids, labels))
        self.processor = processor

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        image, ids, labels = self.items[i]
        pixels = self.processor(images=load_image(image), return_tensors="pt")["pixel_values"][0]
        return {"input_ids": ids, "labels": labels, "pixel_values": pixels}


def collate_vl(pad_id: int):
    """A collator that right-pads ids and labels and stacks pixel values."""

    def collate(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[row, :n] = torch.tensor(b["input_ids"])
            labels[row, :n] = torch.tensor(b["labels"])
            mask[row, :n] = 1
        return {
            "input_ids": ids,
            "labels": labels,
            "attention_mask": mask,
            "pixel_values": torch.stack([b["pixel_values"] for b in batch]),
        }

    return collate


class PackedVLDataset(torch.utils.data.Dataset):
    """VL conversations packed into rows (see data/sft_packing.py), each row with its images in text order."""

    def __init__(self, dataset: VLDataset, max_length: int):
        examples = [{"input_ids": ids, "labels": labels} for _, ids, labels in dataset.items]
        self.rows = pack_conversations(examples, max_length)
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.rows[i]
        pixels = [self.dataset[m]["pixel_values"] for m in row["members"]]
        return {**row, "pixel_values": torch.stack(pixels)}


def collate_packed_vl(pad_id: int):
    """Packed rows padded like text rows; all images of the batch stacked in row-major text order.

    The model splices features into image-token positions in that same order (masked_scatter), so image k
    of the stack lands in the k-th image span of the batch, whichever row it is in.
    """
    text = PackedCollator(pad_id)

    def collate(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return {**text(rows), "pixel_values": torch.cat([r["pixel_values"] for r in rows])}

    return collate


def build_vl_dataset(
    paths: list[Path],
    fmt: str,
    images: str | None,
    skip_bad_images: bool,
    model: Any,
    tokenizer: Any,
    processor: Any,
    max_length: int,
) -> tuple[VLDataset, int]:
    """The training set of a VL stage and how many records were skipped for a bad image."""
    records, skipped = [], 0
    for path in paths:
        good, bad = check_images(read_vl_file(path, fmt, images), path, skip_bad_images)
        records += good
        skipped += bad
    dataset = VLDataset(
        records, tokenizer, processor, model.config.image_token_index, model.num_image_tokens, max_length
    )
    return dataset, skipped
