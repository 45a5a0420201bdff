"""Gradient checkpointing only when memory needs it, and the training attention kernel 'auto' picks."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from qilin.config import ModelSettings
from qilin.models.loading import resolve_attention
from qilin.training import memory

GIB = 2**30
LLAMA_7B = {"layers": 32, "hidden": 4096, "vocab": 32000}
PARAMS_7B = 6_738_415_616


def test_a_7b_lora_stage_at_2048_tokens_needs_no_checkpointing_on_an_80gb_gpu() -> None:
    acts = memory.activation_bytes(**LLAMA_7B, tokens=2048)
    assert 8.9 * GIB < acts < 9.1 * GIB  # 32 x 2048 x 34 x 4096 bytes + fp32 logits and their gradient
    state = memory.state_bytes(PARAMS_7B, int(PARAMS_7B * 0.01), "bf16-mixed", full=False)
    assert 13.2 * GIB < state < 13.6 * GIB  # frozen bf16 base + fp32 adapters with AdamW
    assert not memory.needs_checkpointing(state, acts, 80 * GIB)
    assert memory.needs_checkpointing(state, memory.activation_bytes(**LLAMA_7B, tokens=8 * 4096), 80 * GIB)


def test_a_full_7b_finetune_in_bf16_pure_at_2048_tokens_fits_without_it() -> None:
    state = memory.state_bytes(PARAMS_7B, PARAMS_7B, "bf16-pure", full=True)
    assert not memory.needs_checkpointing(state, memory.activation_bytes(**LLAMA_7B, tokens=2048), 80 * GIB)
    assert memory.needs_checkpointing(state, memory.activation_bytes(**LLAMA_7B, tokens=4 * 2048), 80 * GIB)


def test_auto_is_off_on_a_cpu_and_an_explicit_choice_stands(tiny_model_dir: Path) -> None:
    for setting, expected in (("auto", False), (True, True), (False, False)):
        decided = memory.decide_checkpointing(setting, tiny_model_dir, ModelSettings(), 1024, "fp32", full=True)
        assert decided is expected or (not torch.cuda.is_available() and decided == expected)


def test_training_attention_for_auto() -> None:
    assert resolve_attention("auto", torch.bfloat16, training=True, cuda=True) in (
        "flex_attention",
        "flash_attention_2",
    )
    assert resolve_attention("auto", torch.float32, training=True, cuda=True) == "flex_attention"  # FA2 needs 16-bit
    assert resolve_attention("auto", torch.bfloat16, training=False, cuda=True) in ("sdpa", "flash_attention_2")
    assert resolve_attention("auto", torch.float32, training=True, cuda=False) == "sdpa"
    assert resolve_attention("eager", torch.float32, training=True, cuda=True) == "eager"


def test_rows_per_micro_batch_keeps_the_global_batch() -> None:
    assert memory.rows_per_micro_batch(16, 1, 20 * GIB, 5 * GIB, 80 * GIB) == (8, 2)  # 20 + 8 x 5 <= 68 GiB
    assert memory.rows_per_micro_batch(4, 4, 1 * GIB, 1 * GIB, 80 * GIB) == (16, 1)  # everything fits: no accumulation
    assert memory.rows_per_micro_batch(6, 1, 60 * GIB, 5 * GIB, 80 * GIB) == (1, 6)  # 60 + 5 fits, 60 + 10 does not
    assert memory.rows_per_micro_batch(3, 2, 70 * GIB, 5 * GIB, 80 * GIB) == (1, 6)  # nothing fits: one row a step


def test_the_sft_stage_trains_with_the_rows_the_probe_allows(
    tiny_model_dir: Path, data_files: dict, tmp_path: Path, monkeypatch, capsys
) -> None:
    """On a GPU the probe measures; here its measurement is given: 4 rows a step become 2 x 2, same optimizer steps."""
    from qilin.config import SftSettings
    from qilin.stages import sft
    from tests.conftest import stage_context

    monkeypatch.setattr(memory, "_on_gpu", lambda: True)
    monkeypatch.setattr(memory, "measure_row_bytes", lambda model, one, two: (0, 40 * GIB))
    monkeypatch.setattr("qilin.distributed.device_memory_bytes", lambda: 100 * GIB)  # 85 GiB usable: 2 rows
    cfg = SftSettings(data=[str(data_files["sft"])], packing=False, batch_size=4, max_steps=2, save_steps=100)
    metrics = sft.run(stage_context(cfg, [data_files["sft"]], tiny_model_dir, ModelSettings(), tmp_path / "sft"))
    assert metrics["steps"] == 2
    assert "rows per step: 2 a micro-batch x 2 accumulated (batch_size x grad_accum = 4 kept" in capsys.readouterr().out
    (state,) = (tmp_path / "sft" / "checkpoints").glob("checkpoint-*/trainer_state.json")
    assert json.loads(state.read_text())["train_batch_size"] == 2
