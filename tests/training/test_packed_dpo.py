"""Packed shared-prefix DPO gives trl's numbers: policy and reference log-probs of each answer and the loss."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate import Accelerator
from transformers import AutoModelForCausalLM

from qilin.config import DpoSettings, LoraSettings, ModelSettings
from qilin.data.preference.packing import pack_preference_rows
from qilin.stages import dpo
from qilin.training.packed_dpo import (
    PackedDPOTrainer,
    attention_mask_for,
    branch_attention_allowed,
    packing_unavailable,
)
from tests.conftest import dpo_rows, stage_context, write_jsonl

MULTI_TURN = {
    "prompt": [
        {"role": "system", "content": "你是医生。"},
        {"role": "user", "content": "高血压挂什么科？"},
        {"role": "assistant", "content": "心内科。"},
        {"role": "user", "content": "常用什么药？"},
    ],
    "chosen": "氨氯地平。",
    "rejected": "不用看医生，自己好。",
}


def _trainer(model: Path, data: Path, tmp_path: Path, finetune: str, packing: bool, **kw: object) -> object:
    cfg = DpoSettings(
        data=[str(data)],
        finetune=finetune,
        lora=LoraSettings(r=4, alpha=8, dropout=0.0),
        batch_size=8,
        max_steps=1,
        warmup_ratio=0.0,
        save_steps=100,
        cache_reference=False,
        packing=packing,
        **kw,
    )
    stage_dir = tmp_path / f"{finetune}-{packing}" / "dpo"
    trainer = dpo.build_dpo_trainer(stage_context(cfg, [data], model, ModelSettings(), stage_dir))
    generator = torch.Generator().manual_seed(1)  # the same step away from the reference in both trainers
    with torch.no_grad():
        for _, param in sorted(trainer.model.named_parameters()):
            if param.requires_grad:
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
    trainer.model.eval()  # dropout off
    return trainer


def _trl_pair_values(trainer: object) -> torch.Tensor:
    """(P, 5): policy chosen, rejected, reference chosen, rejected, loss, each pair run alone through trl's loss.

    trl logs batch means; with one pair per batch they are that pair's values.
    """
    values = []
    for row in trainer.train_dataset:
        trainer._metrics["eval"].clear()
        loss = trainer.compute_loss(trainer.model, trainer.data_collator([row])).item()
        m = {k: v[0] for k, v in trainer._metrics["eval"].items()}
        chosen, rejected = m["logps/chosen"], m["logps/rejected"]
        ref_chosen = chosen - m["rewards/chosen"] / trainer.beta
        ref_rejected = rejected - m["rewards/rejected"] / trainer.beta
        values.append([chosen, rejected, ref_chosen, ref_rejected, loss])
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_packed_log_probs_and_loss_equal_trls(tiny_model_dir: Path, tmp_path: Path, finetune: str) -> None:
    # single- and multi-turn pairs; max_length 26 truncates some answers and drops the multi-turn pair, as trl does
    data = write_jsonl(tmp_path / "dpo.jsonl", [*dpo_rows()[:5], MULTI_TURN, *dpo_rows()[5:7]])
    for max_length in (1024, 26):
        trl = _trainer(tiny_model_dir, data, tmp_path, finetune, packing=False, max_length=max_length)
        packed = _trainer(
            tiny_model_dir, data, tmp_path, finetune, packing=True, max_length=max_length, pack_row_tokens=64
        )
        assert type(trl).__name__ == "DPOTrainer" and isinstance(packed, PackedDPOTrainer)
        assert len(trl.train_dataset) == len(packed.train_dataset) == (8 if max_length == 1024 else 7)
        expected = _trl_pair_values(trl)
        batch = packed.data_collator(list(packed.train_dataset))
        assert batch["input_ids"].shape[0] < len(packed.train_dataset)  # several pairs share a row
        with torch.no_grad():
            chosen, rejected = packed._branch_logps(packed.model, batch)
            with packed._reference_context():
                ref_chosen, ref_rejected = packed._branch_logps(packed.ref_model or packed.model, batch)
            loss = packed.compute_loss(packed.model, batch)
        got = torch.stack([chosen, rejected, ref_chosen, ref_rejected]).T.double()
        assert torch.allclose(got, expected[:, :4], atol=1e-4, rtol=0), (got - expected[:, :4]).abs().max()
        assert not torch.allclose(got[:, 0], got[:, 2], atol=1e-3)  # the policy moved: a real comparison
        assert loss.item() == pytest.approx(expected[:, 4].mean().item(), abs=1e-4)


def test_branch_mask_separates_answers_and_pairs() -> None:
    examples = [
        {"prompt_ids": [1, 2, 3], "chosen_ids": [10, 11], "rejected_ids": [20]},
        {"prompt_ids": [4, 5], "chosen_ids": [12], "rejected_ids": [21]},
    ]
    batch = pack_preference_rows(examples, pad_token_id=0, row_tokens=100)
    allowed = branch_attention_allowed(batch["pair_ids"], batch["branch_ids"])[0].int()
    # row: pair 0 = [1 2 | 3 10 11 | 3 20], pair 1 = [4 | 5 12 | 5 21]
    assert allowed.tolist() == [
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # chosen opener: shared prompt + itself
        [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],  # rejected opener: never the chosen branch
        [1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],  # pair 1 never sees pair 0
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1],
    ]


def test_eager_and_flex_masks_give_the_sdpa_logits(tiny_model_dir: Path) -> None:
    examples = [
        {"prompt_ids": list(range(5, 30)), "chosen_ids": [40, 41, 42], "rejected_ids": [50, 51]},
        {"prompt_ids": list(range(7, 20)), "chosen_ids": [43], "rejected_ids": [52, 53, 54]},
    ]
    batch = pack_preference_rows(examples, pad_token_id=0, row_tokens=1000)
    logits = {}
    # flex_attention trains only on CUDA (no backward on a CPU in torch 2.13); its forward checks the block mask
    for kernel in ("sdpa", "eager", "flex_attention"):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=kernel)
        mask = attention_mask_for(kernel, batch["pair_ids"], batch["branch_ids"], torch.float32)
        with torch.no_grad():
            logits[kernel] = model(
                input_ids=batch["input_ids"], attention_mask=mask, position_ids=batch["position_ids"]
            ).logits
    real = batch["pair_ids"] >= 0
    assert torch.allclose(logits["eager"][real], logits["sdpa"][real], atol=1e-5)
    assert torch.allclose(logits["flex_attention"][real], logits["sdpa"][real], atol=1e-4)


def test_kernels_that_cannot_take_the_mask_fall_back_and_say_why(caplog: pytest.LogCaptureFixture) -> None:
    assert packing_unavailable(SimpleNamespace(_attn_implementation="sdpa"), trust_remote_code=False) is None
    assert "FlashAttention-2" in packing_unavailable(SimpleNamespace(_attn_implementation="flash_attention_2"), False)
    assert "own attention" in packing_unavailable(SimpleNamespace(_attn_implementation="sdpa"), True)
    assert "own attention" in packing_unavailable(
        SimpleNamespace(_attn_implementation="sdpa", auto_map={"a": 1}), False
    )
    cfg = DpoSettings(data=["x"])
    fa2 = SimpleNamespace(_attn_implementation="flash_attention_2")
    assert dpo.packed_collator(cfg, fa2, False, 0) is None
    assert (
        dpo.packed_collator(
            DpoSettings(data=["x"], packing=False), SimpleNamespace(_attn_implementation="sdpa"), False, 0
        )
        is None
    )
    collator = dpo.packed_collator(cfg, SimpleNamespace(_attn_implementation="sdpa"), False, 0)
    assert collator is not None and collator.row_tokens is None  # dense mask: rows as long as the longest pair


def test_auto_attention_picks_flex_for_packed_pairs_on_cuda() -> None:
    packed, padded = DpoSettings(data=["x"]), DpoSettings(data=["x"], packing=False)
    auto = ModelSettings()
    assert dpo.dpo_model_settings(packed, auto, cuda=True).attn_implementation == "flex_attention"
    assert dpo.dpo_model_settings(packed, auto, cuda=False).attn_implementation == "auto"  # sdpa on a CPU
    assert dpo.dpo_model_settings(padded, auto, cuda=True).attn_implementation == "auto"
    explicit = ModelSettings(attn_implementation="flash_attention_2")
    assert dpo.dpo_model_settings(packed, explicit, cuda=True) is explicit  # kept; the stage then falls back
    remote = ModelSettings(trust_remote_code=True)
    assert dpo.dpo_model_settings(packed, remote, cuda=True) is remote


def test_loss_is_normalised_by_the_pairs_of_all_processes(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes holding 3 and 1 pairs step as one process holding all 4 (DDP averages their gradients)."""
    data = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows()[:4])
    trainer = _trainer(tiny_model_dir, data, tmp_path, "lora", packing=True)
    rows = list(trainer.train_dataset)

    def gradient(pairs: list, processes: int) -> list[torch.Tensor]:
        monkeypatch.setattr(Accelerator, "num_processes", property(lambda self: processes))
        trainer.model.zero_grad()
        trainer.compute_loss(trainer.model, trainer.data_collator(pairs), num_items_in_batch=torch.tensor(4)).backward()
        return [p.grad.clone() for p in trainer.model.parameters() if p.requires_grad]

    one = gradient(rows, processes=1)
    ranks = [gradient(rows[:3], processes=2), gradient(rows[3:], processes=2)]
    averaged = [(a + b) / 2 for a, b in zip(*ranks, strict=True)]
    assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(one, averaged, strict=True))
    assert (
        trainer._get_num_items_in_batch([trainer.data_collator(rows[:3]), trainer.data_collator(rows[3:])], "cpu") == 4
    )


def _tiny_mistral(tiny_model_dir: Path, out: Path, window: int) -> Path:
    """The tiny Llama's shape and tokenizer as a Mistral that attends within `window` tokens (random weights)."""
    from transformers import AutoConfig, AutoTokenizer, MistralConfig, MistralForCausalLM

    llama = AutoConfig.from_pretrained(tiny_model_dir)
    keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    config = MistralConfig(**{k: getattr(llama, k) for k in keys}, sliding_window=window, num_key_value_heads=2)
    config.pad_token_id, config.eos_token_id = llama.pad_token_id, llama.eos_token_id
    torch.manual_seed(0)
    MistralForCausalLM(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


def test_sliding_window_models_fall_back_to_trls_pairs(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A window shorter than a pair: the branch mask would replace it, so the stage runs trl's pairs (equal to 1e-4)."""
    data = write_jsonl(tmp_path / "dpo.jsonl", [*dpo_rows()[:3], MULTI_TURN])
    narrow = _tiny_mistral(tiny_model_dir, tmp_path / "mistral-8", window=8)
    trl = _trainer(narrow, data, tmp_path / "trl", "full", packing=False)
    expected = _trl_pair_values(trl)
    assert max(len(r["prompt_ids"]) + len(r["chosen_ids"]) for r in trl.train_dataset) > 8  # the window matters

    with caplog.at_level("WARNING"):
        stage = _trainer(narrow, data, tmp_path / "stage", "full", packing=True)
    assert type(stage).__name__ == "DPOTrainer" and "sliding window of 8 tokens" in caplog.text
    assert torch.allclose(_trl_pair_values(stage), expected, atol=1e-4, rtol=0)

    # Packed anyway, the window is lost and the log-probs leave trl's: why the stage falls back
    monkeypatch.setattr(dpo, "packing_unavailable", lambda *a, **k: None)
    forced = _trainer(narrow, data, tmp_path / "forced", "full", packing=True)
    assert isinstance(forced, PackedDPOTrainer)
    with torch.no_grad():
        chosen, _ = forced._branch_logps(forced.model, forced.data_collator(list(forced.train_dataset)))
    assert (chosen.double() - expected[:, 0]).abs().max() > 1e-3


def test_a_window_longer_than_every_pair_still_packs() -> None:
    def mistral(window: int | None) -> SimpleNamespace:
        return SimpleNamespace(_attn_implementation="sdpa", sliding_window=window)

    assert packing_unavailable(mistral(4096), False, longest=1024) is None
    assert "sliding window of 512" in packing_unavailable(mistral(512), False, longest=1024)
    assert packing_unavailable(mistral(None), False, longest=1024) is None
    qwen2_full = SimpleNamespace(_attn_implementation="sdpa", sliding_window=64, layer_types=["full_attention"] * 2)
    assert packing_unavailable(qwen2_full, False, longest=1024) is None
    gemma = SimpleNamespace(_attn_implementation="sdpa", sliding_window=64, layer_types=["sliding_attention"])
    assert packing_unavailable(gemma, False, longest=1024) is not None
