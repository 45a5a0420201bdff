"""Training precision: the mode table, and on this CPU (bf16 autocast runs here) what each mode keeps of an update."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from qilin.config import ConfigError, CptSettings, ModelSettings, SftSettings
from qilin.models.lora import merge_saved_adapter
from qilin.stages import cpt, sft
from qilin.training import precision as p
from tests.conftest import stage_context


def test_auto_is_mixed_on_a_bf16_gpu_and_fp32_on_a_cpu() -> None:
    assert p.resolve_precision("auto", bf16_device=True) == "bf16-mixed"
    assert p.resolve_precision("auto", bf16_device=False) == "fp32"
    assert p.resolve_precision("bf16-pure", bf16_device=False) == "bf16-pure"
    with pytest.raises(ValueError, match="bf16-mixed"):
        p.resolve_precision("fp16")


def test_what_each_mode_loads_computes_and_saves() -> None:
    assert p.load_dtype("bf16-mixed", trains_all_weights=True) == torch.float32  # fp32 master weights
    assert p.load_dtype("bf16-mixed", trains_all_weights=False) == torch.bfloat16  # frozen LoRA base
    assert p.load_dtype("bf16-pure", trains_all_weights=True) == torch.bfloat16
    assert p.load_dtype("fp32", trains_all_weights=False) == torch.float32
    assert p.uses_autocast("bf16-mixed") and p.uses_autocast("bf16-pure") and not p.uses_autocast("fp32")
    # an output the next stage starts from keeps fp32; the last one is cast to model.dtype
    assert p.output_dtype("bf16-mixed", torch.bfloat16, feeds_next_stage=True) == torch.float32
    assert p.output_dtype("bf16-mixed", torch.bfloat16, feeds_next_stage=False) == torch.bfloat16
    assert p.output_dtype("bf16-pure", torch.bfloat16, feeds_next_stage=True) == torch.bfloat16


def test_a_full_finetune_that_cannot_fit_says_so_and_names_the_ways_out() -> None:
    seven_b, h100 = 6_738_415_616, 80 * 2**30
    with pytest.raises(ConfigError) as e:
        p.check_full_finetune_fits(seven_b, "bf16-mixed", h100, shards=1, where="Baichuan-7B")
    message = str(e.value)
    assert "100.4 GiB" in message and "80.0 GiB" in message
    assert "engine=fsdp" in message and "bf16-pure" in message and "8-bit" in message
    p.check_full_finetune_fits(seven_b, "bf16-mixed", h100, shards=8, where="x")  # FSDP over 8 GPUs: 12.6 GiB each
    p.check_full_finetune_fits(seven_b, "bf16-pure", h100, shards=1, where="x")  # 50.2 GiB in bf16


def test_the_stage_refuses_before_training(tiny_model_dir: Path, data_files: dict, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("qilin.training.trainer.device_memory_bytes", lambda: 1000)
    cfg = CptSettings(data=[str(data_files["cpt"])], finetune="full", block_size=32, max_steps=1)
    with pytest.raises(ConfigError, match="Ways out"):
        cpt.run(stage_context(cfg, [data_files["cpt"]], tiny_model_dir, ModelSettings(), tmp_path / "cpt"))
    assert not (tmp_path / "cpt" / "checkpoints").exists()


def _changed_share(after: torch.Tensor, before: torch.Tensor) -> float:
    return (after != before).float().mean().item()


def _small_update(tiny_model_dir: Path, data: Path, out: Path, precision: str) -> dict[str, torch.Tensor]:
    """Two AdamW steps at lr 1e-6: each update is ~1e-6, far below half a bf16 step of a weight near 0.02."""
    cfg = CptSettings(
        data=[str(data)], finetune="full", block_size=32, max_steps=2, batch_size=4, learning_rate=1e-6,
        warmup_ratio=0.0, lr_scheduler="constant", precision=precision, save_steps=100,
    )  # fmt: skip
    ctx = stage_context(cfg, [data], tiny_model_dir, ModelSettings(), out)
    cpt.run(type(ctx)(**{**ctx.__dict__, "feeds_next_stage": True}))
    return AutoModelForCausalLM.from_pretrained(out / "model", dtype=torch.float32).state_dict()


def test_a_small_update_survives_in_bf16_mixed_and_is_lost_in_bf16_pure(
    tiny_model_dir: Path, data_files: dict, tmp_path: Path
) -> None:
    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).state_dict()
    mixed = _small_update(tiny_model_dir, data_files["cpt"], tmp_path / "mixed", "bf16-mixed")
    pure = _small_update(tiny_model_dir, data_files["cpt"], tmp_path / "pure", "bf16-pure")
    name = "model.layers.0.mlp.down_proj.weight"
    assert _changed_share(mixed[name], start[name]) > 0.95
    assert _changed_share(pure[name], start[name].bfloat16().float()) < 0.05


def test_bf16_mixed_loss_tracks_fp32(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    losses = {}
    for mode in ("fp32", "bf16-mixed"):
        cfg = SftSettings(
            data=[str(data_files["sft"])], max_steps=6, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0,
            logging_steps=1, save_steps=100, precision=mode,
        )  # fmt: skip
        ctx = stage_context(cfg, [data_files["sft"]], tiny_model_dir, ModelSettings(), tmp_path / mode)
        sft.run(ctx)
        import json

        history = json.loads((tmp_path / mode / "log_history.json").read_text())
        losses[mode] = [h["loss"] for h in history if "loss" in h]
    assert len(losses["fp32"]) == 6 and losses["fp32"][-1] < losses["fp32"][0]
    assert max(abs(a - b) for a, b in zip(losses["fp32"], losses["bf16-mixed"], strict=True)) < 0.05


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def test_the_saved_lora_model_is_the_trained_one(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    """Chained output: fp32, logits of base + unmerged adapter within 1e-4. Last output in bf16: within bf16 error.
    Saved from memory (no reload, no pickle), it equals the merge into a fresh copy of the starting model."""
    cfg = SftSettings(
        data=[str(data_files["sft"])], max_steps=3, batch_size=4, learning_rate=5e-3, warmup_ratio=0.0,
        save_steps=100, precision="bf16-mixed",
    )  # fmt: skip
    bf16_outputs = ModelSettings(dtype="bfloat16")
    ctx = stage_context(cfg, [data_files["sft"]], tiny_model_dir, bf16_outputs, tmp_path / "sft")
    sft.run(type(ctx)(**{**ctx.__dict__, "feeds_next_stage": True}))
    out = tmp_path / "sft"
    assert not list(out.rglob("*.bin")) and not (out / "trained").exists()  # no pickle, no second copy
    ids = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 11]])
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    reference = _logits(merge_saved_adapter(base, out / "adapter"), ids)
    chained = AutoModelForCausalLM.from_pretrained(out / "model")
    assert chained.dtype == torch.float32  # bf16 could not hold what SFT learned between stages
    assert (_logits(chained, ids) - reference).abs().max() < 1e-4

    last = stage_context(cfg, [data_files["sft"]], tiny_model_dir, bf16_outputs, tmp_path / "last")
    sft.run(last)
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "last" / "model")
    assert exported.dtype == torch.bfloat16
    reference = _logits(
        merge_saved_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "last" / "adapter"), ids
    )
    assert (_logits(exported, ids) - reference).abs().max() < 0.1


def test_an_fp32_lora_stage_merges_in_memory_exactly(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    """The base in memory is the stored one (fp32 both): merged there, without a reload, bit for bit the same."""
    cfg = SftSettings(
        data=[str(data_files["sft"])], max_steps=2, batch_size=4, learning_rate=5e-3, warmup_ratio=0.0,
        save_steps=100, precision="fp32",
    )  # fmt: skip
    sft.run(stage_context(cfg, [data_files["sft"]], tiny_model_dir, ModelSettings(), tmp_path / "sft"))
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "sft" / "model").state_dict()
    fresh = merge_saved_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "sft" / "adapter")
    for name, value in fresh.state_dict().items():
        assert torch.equal(saved[name], value), name
