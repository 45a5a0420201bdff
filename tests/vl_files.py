"""VL test data from synthetic scans: caption and conversation files and PMC-VQA CSVs, in a few milliseconds."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_jsonl

# A scan set as the tests pass it around: (its folder, the records generate_scan_set returned).
Scans = tuple[Path, list[dict]]

# Three quick steps of a VL stage on the tiny model; a learning rate high enough that every trainable part moves.
STEPS = {
    "batch_size": 4,
    "max_steps": 3,
    "save_steps": 100,
    "learning_rate": 1e-2,
    "warmup_ratio": 0.0,
    "max_length": 128,
}


def scan_set(out: Path, n: int, seed: int) -> Scans:
    """n synthetic 32-pixel scans written under `out`, with their captions and questions."""
    from qilin.embedded.scans import generate_scan_set

    return out, generate_scan_set(n, seed=seed, out_dir=out, size=32)


def caption_file(scans: Scans) -> Path:
    """A `caption` format file (feature alignment) of the scans."""
    out, records = scans
    return write_jsonl(out / "captions.jsonl", [{"image": r["image"], "caption": r["caption"]} for r in records])


def vqa_file(scans: Scans) -> Path:
    """A `vl` format file: one question per scan with its choices listed, answered by the correct choice's text."""
    out, records = scans
    rows = []
    for r in records:
        item = r["vqa"][0]
        options = "\n".join(f"{k}:{v}" for k, v in item["choices"].items())
        rows.append(
            {
                "image": r["image"],
                "conversations": [
                    {"from": "human", "value": f"<image>\n{item['question']}\n{options}"},
                    {"from": "gpt", "value": item["choices"][item["answer"]]},
                ],
            }
        )
    path = out / "vqa.json"
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


def pmcvqa_csv(scans: Scans, path: Path, n: int, question_type: str = "modality") -> Path:
    """A PMC-VQA CSV of the first n scans' first questions, all of one `Type`; images relative to the scan folder."""
    _, records = scans
    rows = ["Figure_path,Question,Choice A,Choice B,Choice C,Choice D,Answer_label,Type"]
    for r in records[:n]:
        item = r["vqa"][0]
        choices = [f"{k}:{v}" for k, v in item["choices"].items()]
        rows.append(",".join([r["image"], item["question"], *choices, item["answer"], question_type]))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
