"""The VL demo's data: synthetic scans in four modalities, their captions and VQA, in the standard formats.

    data-vl/pretrain/   scans + captions for the tiny ViT's contrastive pre-training (seed + 100)
    data-vl/train/      captions.jsonl (caption pairs, stage 1), vqa_train.json (LLaVA-style multi-turn, stage 2)
    data-vl/test/       vqa_test.csv (PMC-VQA format with a Type column), held-out images

The three image sets come from different seeds, so no test image is seen in training.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from pathlib import Path

from qilin.config import EmbeddedVisionSettings
from qilin.durable import write_atomic
from qilin.embedded.scans import generate_scan_set

VERSION = 2
PARTS = {
    "vl-captions": "train/captions.jsonl",
    "vl-train": "train/vqa_train.json",
    "vqa-test": "test/vqa_test.csv",
    "vl-pretrain": "pretrain/records.json",
}


def _turns(items: list[dict]) -> list[dict[str, str]]:
    turns = []
    for i, item in enumerate(items):
        options = "\n".join(f"{k}:{v}" for k, v in item["choices"].items())
        question = f"{item['question']}\n{options}"
        turns.append({"from": "human", "value": f"<image>\n{question}" if i == 0 else question})
        turns.append({"from": "gpt", "value": item["choices"][item["answer"]]})
    return turns


def vqa_conversations(records: list[dict], seed: int) -> list[dict]:
    """Per image: all its questions as one multi-turn conversation in a random order, and one question alone.

    A fixed order would teach the model that the first question after an image is always the same one, and
    it would stop reading the question.
    """
    rng = random.Random(seed)
    conversations = []
    for i, r in enumerate(records):
        items = list(r["vqa"])
        rng.shuffle(items)
        conversations.append({"id": f"{i}-all", "image": r["image"], "conversations": _turns(items)})
        conversations.append({"id": f"{i}-one", "image": r["image"], "conversations": _turns([rng.choice(items)])})
    return conversations


def build_embedded_vl(out_dir: Path, settings: EmbeddedVisionSettings) -> dict[str, Path]:
    """Generate (once) the demo's pre-training, training and test scans; returns the parts' paths."""
    key = json.dumps([VERSION, settings.seed, settings.image_size, settings.pretrain_images, settings.vl_images])
    stamp = out_dir / "stamp"
    paths = {part: out_dir / rel for part, rel in PARTS.items()}
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    if stamp.exists() and stamp.read_text() == digest and all(p.exists() for p in paths.values()):
        return paths
    size = settings.image_size
    pretrain = generate_scan_set(settings.pretrain_images, settings.seed + 100, out_dir / "pretrain", size)
    write_atomic(paths["vl-pretrain"], json.dumps(pretrain, ensure_ascii=False))
    train = generate_scan_set(settings.vl_images, settings.seed + 1, out_dir / "train", size)
    write_atomic(
        paths["vl-captions"],
        "".join(json.dumps({"image": r["image"], "caption": r["caption"]}, ensure_ascii=False) + "\n" for r in train),
    )
    conversations = vqa_conversations(train, settings.seed)
    write_atomic(paths["vl-train"], json.dumps(conversations, ensure_ascii=False, indent=0))
    test = generate_scan_set(max(50, settings.vl_images // 5), settings.seed + 2, out_dir / "test", size)
    rows = []
    for r in test:
        for item in r["vqa"]:
            rows.append(
                {
                    "Figure_path": r["image"],
                    "Question": item["question"],
                    "Answer": item["choices"][item["answer"]],
                    **{f"Choice {k}": f"{k}:{v}" for k, v in item["choices"].items()},
                    "Answer_label": item["answer"],
                    "Type": item["type"],
                }
            )
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(paths["vqa-test"], table.getvalue())
    write_atomic(stamp, digest)
    return paths
