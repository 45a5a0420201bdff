"""The SFT stage reuses its tokenized conversations: a rerun with a new learning rate renders nothing again."""

from __future__ import annotations

from pathlib import Path

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
