"""General pre-training of the embedded base: trained once per key, then taken from the cache."""

from pathlib import Path

import pytest

from qilin.config import CptSettings, ModelSettings
from qilin.embedded.general_base import general_base_key, pretrain_general
from qilin.embedded.model import build_embedded_model
from qilin.stages import cpt
from tests.conftest import TINY, corpus_lines


def test_the_key_follows_the_base_and_how_models_load_but_not_the_path() -> None:
    key = general_base_key("f1", ModelSettings())
    assert key == general_base_key("f1", ModelSettings(path="/elsewhere"))
    assert key != general_base_key("f2", ModelSettings())
    assert key != general_base_key("f1", ModelSettings(dtype="bfloat16"))


def test_pretraining_runs_once_per_key(tmp_path: Path, qilin_cache: Path, monkeypatch) -> None:
    data = tmp_path / "general.txt"
    data.write_text("\n".join(corpus_lines(200)) + "\n", encoding="utf-8")
    cfg = CptSettings(data=[str(data)], block_size=32, finetune="full", max_steps=3, batch_size=4, logging_steps=1)
    initial = []

    def build_initial(out: Path) -> None:
        initial.append(out)
        build_embedded_model(TINY, corpus_lines(200), out)

    model, first = pretrain_general(cfg, [data], ModelSettings(), "k1", build_initial)
    assert not first["cached"] and first["steps"] == 3 and first["pretrain_seconds"] >= first["train_seconds"]
    assert (model / "model.safetensors").exists() and model.is_relative_to(qilin_cache / "general-base" / "k1")
    assert not (model.parent / "checkpoints").exists() and not initial[0].exists()  # nothing kept but the result
    weights = (model / "model.safetensors").read_bytes()

    def no_training(*args: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(cpt, "run", no_training)
    again, second = pretrain_general(cfg, [data], ModelSettings(), "k1", no_training)
    assert again == model and second["cached"] and second["last_loss"] == first["last_loss"]
    assert (again / "model.safetensors").read_bytes() == weights
    with pytest.raises(AssertionError, match="trained again"):  # another key is another model
        pretrain_general(cfg, [data], ModelSettings(), "k2", build_initial)
