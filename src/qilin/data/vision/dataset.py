"""Vision-language examples: conversations tokenized with their images expanded, as training sets and prompts.

An `<image>` in the text becomes one token per image feature (`expand_image_tokens`), the positions where the
VL model splices in the projected patches; training examples (`VLDataset`, packed or not) and inference prompts
(`vl_prompt_ids`) expand it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from qilin.chat_templates import IGNORE_INDEX, render_prompt
from qilin.data.text.conversations import tokenize_conversations
from qilin.data.text.sft_packing import PackedCollator, pack_conversations
from qilin.data.vision.formats import VLRecord, check_images, read_vl_file, with_image_token
from qilin.data.vision.images import load_image


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


def vl_prompt_ids(tokenizer: Any, messages: list[dict[str, str]], image_token: int, n_image_tokens: int) -> list[int]:
    """Token ids a VL model sees before it answers: `<image>` placed by `with_image_token`, the chat template's
    generation prompt, and the image token expanded to `n_image_tokens` positions."""
    ids = tokenizer(render_prompt(tokenizer, with_image_token(messages)), add_special_tokens=False)["input_ids"]
    return expand_image_tokens(ids, [IGNORE_INDEX] * len(ids), image_token, n_image_tokens)[0]


def image_pixels(processor: Any, images: Sequence[str | Path | Image.Image]) -> torch.Tensor:
    """(N, C, H, W) pixel values of images, each a file (read by `load_image`) or a PIL image (made RGB)."""
    # one processor call per image: what every path did before, so the pixel values stay bit-identical
    pictures = [image.convert("RGB") if isinstance(image, Image.Image) else load_image(image) for image in images]
    return torch.cat([processor(images=picture, return_tensors="pt")["pixel_values"] for picture in pictures])


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
        # one render per conversation (data/text/conversations.py), all conversations in one call
        tokenized = tokenize_conversations(tokenizer, [r.messages for r in records], max_length=1 << 30)
        for record, (ids, labels) in zip(records, tokenized, strict=True):
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
        pixels = image_pixels(self.processor, [image])[0]
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
    """VL conversations packed into rows (see data/text/sft_packing.py), each row with its images in text order."""

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
