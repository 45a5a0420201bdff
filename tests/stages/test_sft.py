"""The SFT stage reuses its tokenized conversations: a rerun with a new learning rate renders nothing again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerBase

from qilin.config import ModelSettings, SftSettings
from qilin.stages import sft
from tests.conftest import stage_context


def test_a_rerun_with_a_new_learning_rate_does_not_tokenize_again(
    tiny_model_dir: Path, data_files: dict, qilin_cache: Path, tmp_path: Path, monkeypatch
) -> None:
    renders = []
    render = PreTrainedTokenizerBase.apply_chat_template
    monkeypatch.setattr(
        PreTrainedTokenizerBase, "apply_chat_template", lambda *a, **k: renders.append(1) or render(*a, **k)
    )
    cfg = SftSettings(data=[str(data_files["sft"])], max_length=64, max_steps=1, save_steps=100, tokenize_processes=1)
    first = sft.run(stage_context(cfg, [data_files["sft"]], tiny_model_dir, ModelSettings(), tmp_path / "run1"))
    assert renders and list((qilin_cache / "sft").glob("examples-*.bin"))
    renders.clear()
    cfg.learning_rate = 1e-3  # the pipeline gives the changed stage a fresh directory
    second = sft.run(stage_context(cfg, [data_files["sft"]], tiny_model_dir, ModelSettings(), tmp_path / "run2"))
    assert renders == []  # not one conversation rendered, let alone tokenized
    assert (second["examples"], second["tokens"], second["rows"]) == (first["examples"], first["tokens"], first["rows"])


def test_retrieval_aware_sft_reports_the_share_of_prompts_with_passages(
    tiny_model_dir: Path, data_files: dict, tmp_path: Path
) -> None:
    from qilin.config.retrieval import RagTrainingSettings
    from qilin.rag.index import build_index

    index = build_index([data_files["cpt"]], tmp_path / "index")
    rag = RagTrainingSettings(share=0.5, gold_share=0.5, top_k=2)
    cfg = SftSettings(data=[str(data_files["sft"])], max_length=128, max_steps=1, save_steps=100, rag=rag)
    ctx = stage_context(cfg, [data_files["sft"]], tiny_model_dir, ModelSettings(), tmp_path / "run", rag_index=index)
    metrics = sft.run(ctx)
    plain = sft.run(
        stage_context(
            dataclasses.replace(cfg, rag=RagTrainingSettings()),
            [data_files["sft"]],
            tiny_model_dir,
            ModelSettings(),
            tmp_path / "plain",
        )
    )
    assert 30 <= metrics["rag_share"] <= 70 and metrics["rag_gold"] + metrics["rag_distractors_only"] > 0
    assert metrics["examples"] == plain["examples"] and metrics["tokens"] > plain["tokens"]
    assert "rag_share" not in plain


def test_retrieval_aware_sft_needs_an_index(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    from qilin.config.retrieval import RagTrainingSettings

    cfg = SftSettings(data=[str(data_files["sft"])], max_steps=1, rag=RagTrainingSettings(share=0.5))
    with pytest.raises(ValueError, match=r"stages\.sft\.rag \(share > 0 or reading\) needs the index"):
        sft.run(stage_context(cfg, [data_files["sft"]], tiny_model_dir, ModelSettings(), tmp_path / "run"))
