"""Tiny things the tests build in milliseconds: a tokenizer, a 2-layer Llama, small data files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from qilin.config import EmbeddedModelSettings
from qilin.models.embedded import build_embedded_model

DISEASES = [
    ("高血压", "心内科", "头晕", "氨氯地平"),
    ("糖尿病", "内分泌科", "多饮多尿", "二甲双胍"),
    ("哮喘", "呼吸内科", "喘息", "沙丁胺醇"),
    ("胃炎", "消化内科", "上腹痛", "奥美拉唑"),
    ("痛风", "风湿免疫科", "关节红肿", "秋水仙碱"),
]

TINY = EmbeddedModelSettings(
    vocab_size=500, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, max_position_embeddings=256
)


def corpus_lines(n: int = 120, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        d, dep, s, drug = rng.choice(DISEASES)
        lines.append(f"{d}患者常见{s}，应到{dep}就诊，常用{drug}治疗。")
    return lines


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def sft_rows() -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"{d}挂什么科？"},
                {"role": "assistant", "content": f"{d}应到{dep}就诊。"},
            ]
        }
        for d, dep, _, _ in DISEASES * 4
    ]


def dpo_rows() -> list[dict]:
    return [
        {"prompt": f"{d}挂什么科？", "chosen": f"{d}应到{dep}就诊。", "rejected": "不用看医生，自己好。"}
        for d, dep, _, _ in DISEASES * 2
    ]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a BPE tokenizer trained on the test corpus (chatml template)."""
    out = tmp_path_factory.mktemp("tiny") / "model"
    texts = corpus_lines() + [m["content"] for r in sft_rows() for m in r["messages"]] + ["不用看医生，自己好。"]
    return build_embedded_model(TINY, texts, out)


@pytest.fixture
def data_files(tmp_path: Path) -> dict[str, Path]:
    """Small CPT, SFT and DPO files in the three main formats."""
    cpt = tmp_path / "cpt.txt"
    cpt.write_text("\n".join(corpus_lines()) + "\n", encoding="utf-8")
    return {
        "cpt": cpt,
        "sft": write_jsonl(tmp_path / "sft.jsonl", sft_rows()),
        "dpo": write_jsonl(tmp_path / "dpo.jsonl", dpo_rows()),
    }
