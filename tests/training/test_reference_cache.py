"""DPO reference log-probs: computed once, kept under <run_dir>/cache/dpo_ref, reused by reruns and resumes."""

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from torch.nn.modules.module import register_module_forward_pre_hook
from transformers import LlamaForCausalLM

from qilin.config import DpoSettings, LoraSettings, ModelSettings
from qilin.stages import dpo
from qilin.stages.protocol import StageContext
from qilin.training.reference_cache import COLUMNS, META, TENSORS
from tests.conftest import dpo_rows, stage_context, write_jsonl


def _cfg(data: Path, finetune: str = "lora", **kw) -> DpoSettings:
    settings = {"batch_size": 2, "max_steps": 2, "warmup_ratio": 0.0, "save_steps": 100, "max_length": 64}
    settings.update(kw)
    return DpoSettings(data=[str(data)], finetune=finetune, lora=LoraSettings(r=4, alpha=8), **settings)


@pytest.fixture
def reference_forwards() -> Iterator[list[int]]:
    """Counts forward passes of the Llama run without gradients: with no eval set, exactly the reference passes.

    The hook is global so that it also sees the reference copy trl loads for full fine-tuning without the cache.
    """
    count = [0]

    def hook(module: torch.nn.Module, inputs: Any) -> None:
        if isinstance(module, LlamaForCausalLM) and not torch.is_grad_enabled():
            count[0] += 1

    handle = register_module_forward_pre_hook(hook)
    yield count
    handle.remove()


def _columns(trainer: dpo.DPOTrainer) -> dict[str, torch.Tensor]:
    return trainer.train_dataset.select_columns(list(COLUMNS)).with_format("torch")[:]


def _weights(stage_dir: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(stage_dir / "model" / "model.safetensors")


def _move_policy(trainer: dpo.DPOTrainer) -> None:
    """The same small step away from the starting weights in every trainer (at step 0 policy == reference)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, param in sorted(trainer.model.named_parameters()):
            if param.requires_grad:
                param.add_(0.05 * torch.randn(param.shape, generator=generator))


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_cached_reference_gives_the_loss_of_scoring_it_each_step(
    tiny_model_dir: Path, data_files: dict, tmp_path: Path, finetune: str
) -> None:
    data = data_files["dpo"]

    def build(**kw: object) -> object:
        cfg = _cfg(data, finetune, **kw)
        return dpo.build_dpo_trainer(
            stage_context(cfg, [data], tiny_model_dir, ModelSettings(), tmp_path / "run" / "dpo")
        )

    each_step = build(cache_reference=False)
    computed = build()
    loaded = build()
    assert not computed.reference_cache_loaded and loaded.reference_cache_loaded
    assert each_step.ref_model is None if finetune == "lora" else each_step.ref_model is not None
    assert computed.ref_model is None  # full fine-tuning no longer loads a second copy of the model
    for trainer in (each_step, computed, loaded):
        _move_policy(trainer)

    rows = range(len(each_step.train_dataset))
    batch = each_step.data_collator([each_step.train_dataset[i] for i in rows])
    with torch.no_grad():
        # LoRA: the policy with its adapter disabled; full: trl's copy of the starting model.
        ref_chosen, ref_rejected = each_step.compute_ref_log_probs(each_step.ref_model or each_step.model, batch)
        loss_each_step = each_step.compute_loss(each_step.model, batch).item()
        losses = [
            t.compute_loss(t.model, t.data_collator([t.train_dataset[i] for i in rows])).item()
            for t in (computed, loaded)
        ]
    for trainer in (computed, loaded):
        columns = _columns(trainer)  # (N,) each
        torch.testing.assert_close(columns["ref_chosen_logps"], ref_chosen, atol=1e-5, rtol=0)
        torch.testing.assert_close(columns["ref_rejected_logps"], ref_rejected, atol=1e-5, rtol=0)
    assert ref_chosen.abs().min() > 1.0  # real log-probs, not zeros
    assert abs(loss_each_step - math.log(2)) > 1e-3  # the policy moved, so the reference values matter
    assert losses == pytest.approx([loss_each_step] * 2, abs=1e-5)


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_rerun_loads_the_cache_runs_no_reference_pass_and_trains_the_same(
    tiny_model_dir: Path,
    data_files: dict,
    tmp_path: Path,
    finetune: str,
    reference_forwards: list[int],
    capsys: pytest.CaptureFixture,
) -> None:
    data, run_dir = data_files["dpo"], tmp_path / "run"
    pairs, batch_size, epochs = len(dpo_rows()), 5, 3

    # Without the cache the reference is scored in every step.
    cfg = _cfg(data, finetune, max_steps=-1, epochs=epochs, batch_size=batch_size, cache_reference=False)
    metrics = dpo.run(StageContext(cfg, [data], ["sha"], tiny_model_dir, ModelSettings(), tmp_path / "nocache" / "dpo"))
    assert metrics["steps"] == epochs * pairs // batch_size and reference_forwards[0] == metrics["steps"]

    # With it: once per pair, however many epochs.
    reference_forwards[0] = 0
    cfg = _cfg(data, finetune, max_steps=-1, epochs=epochs, batch_size=batch_size)
    first = dpo.run(StageContext(cfg, [data], ["sha"], tiny_model_dir, ModelSettings(), run_dir / "dpo"))
    assert reference_forwards[0] == pairs // batch_size
    entries = list((run_dir / "cache" / "dpo_ref").iterdir())
    assert len(entries) == 1 and {p.name for p in entries[0].iterdir()} == {TENSORS, META}
    assert json.loads((entries[0] / META).read_text())["key_inputs"]["layout"] == "packed"  # keyed by the layout
    assert f"computed for {pairs} pairs, saved to {entries[0]}" in capsys.readouterr().out
    first_weights = _weights(run_dir / "dpo")

    # A config change makes the pipeline delete the stage directory; the cache beside it survives.
    shutil.rmtree(run_dir / "dpo")
    reference_forwards[0] = 0
    second = dpo.run(StageContext(cfg, [data], ["sha"], tiny_model_dir, ModelSettings(), run_dir / "dpo"))
    assert reference_forwards[0] == 0
    assert f"loaded from {entries[0]} ({pairs} pairs)" in capsys.readouterr().out
    assert second["first_loss"] == first["first_loss"] and second["last_loss"] == first["last_loss"]
    second_weights = _weights(run_dir / "dpo")
    assert all(torch.equal(first_weights[name], second_weights[name]) for name in first_weights)


def test_run_resumed_after_a_crash_finds_the_cache(
    tiny_model_dir: Path, data_files: dict, tmp_path: Path, reference_forwards: list[int]
) -> None:
    data, stage_dir = data_files["dpo"], tmp_path / "run" / "dpo"
    cfg = _cfg(data, max_steps=4, save_steps=2)
    dpo.run(StageContext(cfg, [data], ["sha"], tiny_model_dir, ModelSettings(), stage_dir))
    # What a kill after step 3 leaves: the checkpoint of step 2, no output model.
    shutil.rmtree(stage_dir / "checkpoints" / "checkpoint-4")
    shutil.rmtree(stage_dir / "model")

    reference_forwards[0] = 0
    metrics = dpo.run(StageContext(cfg, [data], ["sha"], tiny_model_dir, ModelSettings(), stage_dir))
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 4
    assert reference_forwards[0] == 0


def _perturbed_model(model_dir: Path, out: Path) -> Path:
    shutil.copytree(model_dir, out)
    weights = safetensors.torch.load_file(out / "model.safetensors")
    name = next(n for n in sorted(weights) if n.endswith("mlp.down_proj.weight"))
    weights[name] = weights[name] + 1e-3
    safetensors.torch.save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    return out


def test_key_follows_data_model_and_tokenization(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    data, stage_dir = data_files["dpo"], tmp_path / "run" / "dpo"
    other_rows = dpo_rows()
    other_rows[0]["chosen"] = "高血压应到心内科就诊，按时服药。"
    other_data = write_jsonl(tmp_path / "other.jsonl", other_rows)
    other_model = _perturbed_model(tiny_model_dir, tmp_path / "other_model")

    def entry(cfg: DpoSettings, data: Path = data, model: Path = tiny_model_dir) -> str:
        trainer = dpo.build_dpo_trainer(stage_context(cfg, [data], model, ModelSettings(), stage_dir))
        return trainer.reference_cache_entry.name

    base = entry(_cfg(data))
    assert entry(_cfg(data, beta=0.5, learning_rate=1e-3)) == base  # training knobs do not change the reference
    assert entry(_cfg(data, finetune="full")) == base  # the LoRA reference is the starting model
    changed = {
        entry(_cfg(other_data), data=other_data),
        entry(_cfg(data), model=other_model),
        entry(_cfg(data, max_length=32)),
    }
    assert len(changed) == 3 and base not in changed
    assert len(list((tmp_path / "run" / "cache" / "dpo_ref").iterdir())) == 4


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40  # a changed float, the file still parses
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda entry: _truncate(entry / TENSORS), f"{TENSORS} does not match the sha256"),
        (lambda entry: _flip_last_byte(entry / TENSORS), f"{TENSORS} does not match the sha256"),
        (lambda entry: (entry / META).write_text('{"key_inputs": '), f"{META} unreadable"),
        (lambda entry: (entry / META).unlink(), f"{META} missing"),
    ],
    ids=["truncated", "altered", "torn-meta", "no-meta"],
)
def test_damaged_cache_is_recomputed_not_used(
    tiny_model_dir: Path,
    data_files: dict,
    tmp_path: Path,
    reference_forwards: list[int],
    capsys: pytest.CaptureFixture,
    damage,
    reason: str,
) -> None:
    data, stage_dir = data_files["dpo"], tmp_path / "run" / "dpo"
    first = dpo.build_dpo_trainer(stage_context(_cfg(data), [data], tiny_model_dir, ModelSettings(), stage_dir))
    entry, expected = first.reference_cache_entry, _columns(first)
    damage(entry)
    capsys.readouterr()

    reference_forwards[0] = 0
    second = dpo.build_dpo_trainer(stage_context(_cfg(data), [data], tiny_model_dir, ModelSettings(), stage_dir))
    assert not second.reference_cache_loaded and reference_forwards[0] > 0
    assert f"the cache there was unusable: {reason}" in capsys.readouterr().out
    for name in COLUMNS:
        assert torch.equal(_columns(second)[name], expected[name])

    reference_forwards[0] = 0
    third = dpo.build_dpo_trainer(stage_context(_cfg(data), [data], tiny_model_dir, ModelSettings(), stage_dir))
    assert third.reference_cache_loaded and reference_forwards[0] == 0  # the rewritten entry is whole again
