"""Tiny things the tests build in milliseconds: a tokenizer, a 2-layer Llama, small data files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from qilin.config import EmbeddedModelSettings
from qilin.embedded.model import build_embedded_model
from qilin.log import setup_logging

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


def stage_context(cfg, data: list[Path], model_path: Path, model_settings, stage_dir: Path, **extra):
    """A stage's context as the pipeline builds it: the data files hashed by content."""
    from qilin.hashing import file_sha256
    from qilin.stages.protocol import StageContext

    return StageContext(cfg, data, [file_sha256(p) for p in data], model_path, model_settings, stage_dir, **extra)


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


def kg_rows() -> list[str]:
    """A user's knowledge-graph CSV (header and triples): 8 diseases, each with department, system, 3 symptoms and
    2 treatments."""
    rows = ["head,relation,tail"]
    for i, (dep, sys_) in enumerate([("心内科", "循环系统"), ("呼吸内科", "呼吸系统")] * 4):
        d = f"病{i}"
        rows += [f"{d},department,{dep}", f"{d},system,{sys_}"]
        rows += [f"{d},symptoms,症状{i}{k}" for k in range(3)]
        rows += [f"{d},treatments,药{i}{k}" for k in range(2)]
    return rows


def dpo_rows() -> list[dict]:
    return [
        {"prompt": f"{d}挂什么科？", "chosen": f"{d}应到{dep}就诊。", "rejected": "不用看医生，自己好。"}
        for d, dep, _, _ in DISEASES * 2
    ]


@pytest.fixture(autouse=True, scope="session")
def qilin_logging() -> None:
    """Qilin's messages on stdout/stderr as the `qilin` command shows them, so tests read them with capsys."""
    setup_logging()


@pytest.fixture(autouse=True)
def qilin_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh QILIN_CACHE per test: nothing lands in the real home, and no test reuses another's packed data."""
    cache = tmp_path_factory.mktemp("qilin-cache")
    monkeypatch.setenv("QILIN_CACHE", str(cache))
    return cache


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


@pytest.fixture(scope="session")
def vision_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer CLIP vision tower (random weights) with its image processor, 32x32 pixels, 16 patches."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    out = tmp_path_factory.mktemp("vision") / "clip"
    config = CLIPVisionConfig(
        image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2
    )
    torch.manual_seed(0)
    CLIPVisionModel(config).save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)
    return out


def save_vl_model(llm_dir: Path, vision_dir: Path, out: Path) -> Path:
    """A Qilin-Med-VL model of the tiny CLIP tower, a fresh linear projector and the LLM at `llm_dir`, saved at out."""
    from qilin.config import ModelSettings, VisionSettings
    from qilin.models.loading import save_pretrained_atomic
    from qilin.models.vision import prepare_vl_model

    model, tokenizer, processor = prepare_vl_model(
        llm_dir, vision_dir, VisionSettings(feature_layer=-1), ModelSettings()
    )
    save_pretrained_atomic(model, tokenizer, out, processor)
    return out


@pytest.fixture(scope="session")
def tiny_vl_dir(tiny_model_dir: Path, vision_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained Qilin-Med-VL model (tiny CLIP tower + linear projector + tiny Llama), saved."""
    return save_vl_model(tiny_model_dir, vision_dir, tmp_path_factory.mktemp("vl") / "model")


@pytest.fixture(scope="session")
def tiny_chat_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model after a short SFT on the test conversations: it answers "X应到Y就诊。" to "X挂什么科？"."""
    from qilin.config import ModelSettings, SftSettings
    from qilin.stages import sft
    from qilin.stages.protocol import StageContext

    out = tmp_path_factory.mktemp("chat")
    data = write_jsonl(out / "sft.jsonl", sft_rows())
    cfg = SftSettings(
        data=[str(data)],
        max_length=64,
        batch_size=4,
        epochs=60,
        learning_rate=3e-3,
        save_steps=10_000,
        warmup_ratio=0,
        packing=False,  # the batches this fixture was tuned with
        group_by_length=False,
    )
    sft.run(StageContext(cfg, [data], ["x"], tiny_model_dir, ModelSettings(), out / "sft"))
    return out / "sft" / "model"
