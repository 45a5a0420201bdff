"""Packed GRPO equals trl's GRPOTrainer: per-token log-probs, entropies, loss and gradients on the same rollouts."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from trl import GRPOTrainer

from qilin.config import GrpoSettings, LoraSettings, ModelSettings
from qilin.stages import grpo
from qilin.training.packed_grpo import PackedGRPOTrainer, group_layout, group_rows
from tests.conftest import stage_context, write_jsonl

OPTIONS = {"A": "科", "B": "药", "C": "痛", "D": "热", "E": "。"}


def test_group_layout_branches_off_the_last_prompt_token() -> None:
    layout = group_layout([1, 2, 3], [[7, 8], [9]])
    assert layout["ids"] == [1, 2, 3, 7, 8, 3, 9]
    assert layout["positions"] == [0, 1, 2, 3, 4, 2, 3]
    assert layout["labels"] == [-100, -100, 7, 8, -100, 9, -100]  # each opener predicts its completion's first token
    assert layout["branches"] == [0, 0, 1, 1, 1, 2, 2]
    assert layout["slots"] == [[2, 3], [5]]  # completion token j is scored at the label of position slots[j]


def test_group_rows_finds_rows_sharing_a_prompt_whatever_the_padding() -> None:
    ids = torch.tensor([[0, 5, 6], [0, 5, 6], [4, 5, 6], [0, 5, 6]])
    mask = torch.tensor([[0, 1, 1], [0, 1, 1], [1, 1, 1], [0, 1, 1]])
    assert group_rows(ids, mask) == [[0, 1, 3], [2]]


def _trainer(tiny_model_dir: Path, tmp_path: Path, finetune: str) -> PackedGRPOTrainer:
    stems = ["高血压应到哪个科室就诊？请回答", "糖尿病", "偏头痛的典型症状是", "肺炎常见什么表现？"]
    data = write_jsonl(tmp_path / "p.jsonl", [{"question": s, "options": OPTIONS, "answer": "A"} for s in stems])
    cfg = GrpoSettings(
        data=[str(data)],
        finetune=finetune,
        lora=LoraSettings(r=4, alpha=8, dropout=0.0),
        batch_size=8,
        num_generations=4,
        max_new_tokens=8,
        max_steps=1,
        precision="fp32",
        prompt_style="cloze",
        rollouts="transformers",
        beta=0.04,
    )
    trainer = grpo.build_grpo_trainer(stage_context(cfg, [data], tiny_model_dir, ModelSettings(), tmp_path / "g"))
    assert isinstance(trainer, PackedGRPOTrainer)
    if finetune == "lora":  # a trained adapter, so the policy differs from the reference
        with torch.no_grad():
            for name, p in trainer.model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
    return trainer


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_packed_equals_trl_on_the_same_rollouts(tiny_model_dir: Path, tmp_path: Path, finetune: str) -> None:
    trainer = _trainer(tiny_model_dir, tmp_path, finetune)
    trainer.model.eval()  # dropout off
    batch = [trainer.train_dataset[i] for i in (0, 0, 0, 0, 1, 1, 1, 1)]  # two prompts of different lengths, G = 4
    torch.manual_seed(0)
    inputs = trainer._generate_and_score_completions(batch)
    inputs["completion_mask"][1, 3:] = 0  # completions of unequal length
    inputs["completion_mask"][6, 1:] = 0
    assert inputs["prompt_mask"].sum(1).unique().numel() == 2  # the prompts are left-padded to one length
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    keep = inputs["completion_ids"].shape[1]
    trl_forward = functools.partial(GRPOTrainer._get_per_token_logps_and_entropies, trainer)
    with torch.no_grad():
        packed, packed_entropy, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, mask, keep, compute_entropy=True
        )
        reference, reference_entropy, _ = trl_forward(trainer.model, ids, mask, keep, compute_entropy=True)
    scored = inputs["completion_mask"].bool()
    assert torch.allclose(packed[scored], reference[scored], atol=1e-4)
    assert torch.allclose(packed_entropy[scored], reference_entropy[scored], atol=1e-4)

    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    losses, grads = [], []
    for forward in (None, trl_forward):
        if forward is not None:
            trainer._get_per_token_logps_and_entropies = forward
        trainer.model.zero_grad()
        loss = trainer._compute_loss(trainer.model, inputs)
        loss.backward()
        losses.append(loss.item())
        grads.append([p.grad.clone() for p in trainable])
    del trainer._get_per_token_logps_and_entropies
    assert losses[0] == pytest.approx(losses[1], abs=1e-4) and losses[0] != 0.0
    for packed_grad, reference_grad in zip(*grads, strict=True):
        assert torch.allclose(packed_grad, reference_grad, atol=1e-4)


@pytest.mark.parametrize("window, packed", [(8, False), (4096, True)])
def test_sliding_window_models_fall_back_to_trls_rows(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, window: int, packed: bool
) -> None:
    """A window shorter than a group: the branch mask would replace it, so the stage runs trl's rows and says why."""
    from tests.training.test_packed_dpo import _tiny_mistral

    mistral = _tiny_mistral(tiny_model_dir, tmp_path / f"mistral-{window}", window=window)
    data = write_jsonl(tmp_path / "p.jsonl", [{"question": "糖尿病常用什么药？", "options": OPTIONS, "answer": "A"}])
    cfg = GrpoSettings(data=[str(data)], batch_size=4, max_new_tokens=4, rollouts="transformers", finetune="full")
    with caplog.at_level("WARNING"):
        trainer = grpo.build_grpo_trainer(stage_context(cfg, [data], mistral, ModelSettings(), tmp_path / "g"))
    assert isinstance(trainer, PackedGRPOTrainer) is packed
    assert ("sliding window of 8 tokens" in caplog.text) is not packed
